# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help venv collection demo test bench bench-triton bench-upgrade bench-virtfusion ee docs clean

help:
	@echo "make demo   - run the demo on the lab: Avi SE evacuation, VS migration, rolling upgrade; Triton and VirtFusion migrations and evacuations"
	@echo "make test   - run every test (unit, lab, integration, sanity, lint, docs, Galaxy import, molecule; units, sanity and a lab smoke on every ansible-core 2.17-2.21)"
	@echo "make bench  - benchmark: evacuate an SE hosting 50 virtual services"
	@echo "make bench-triton - benchmark: evacuate a Triton compute node hosting 24 instances"
	@echo "make docs   - module, plugin and role docs and the user guides (antsibull-docs + Sphinx) in build/docs"
	@echo "make ee     - write the execution environment build context (extensions/ee) into build/ee"
	@echo "make bench-upgrade - benchmark: upgrade 8 SE groups x 4 SEs four ways"
	@echo "make bench-virtfusion - benchmark: VirtFusion live-migration convergence options; evacuate 8 servers, N=4 vs 1"
	@echo "make bench-scale - benchmark: plans at 1,000-10,000 VSs and 200-2,000 instances; the lab answering late"

venv:
	@bash scripts/venv.sh

collection: venv
	@bash scripts/collection.sh

demo: collection
	@bash scripts/system-packages.sh
	@bash scripts/demo.sh

test: collection
	@bash scripts/system-packages.sh
	@bash scripts/node-triton.sh
	@bash scripts/test.sh

bench: collection
	@bash scripts/bench.sh

bench-triton: collection
	@bash scripts/bench-triton.sh

bench-upgrade: collection
	@bash scripts/bench-upgrade.sh

bench-virtfusion: collection
	@bash scripts/bench-virtfusion.sh

.PHONY: bench-scale
bench-scale: collection
	@bash scripts/bench-scale.sh

ee: collection
	@bash scripts/ee.sh

docs: collection
	@bash scripts/docs.sh

clean:
	rm -rf .venv .collections .pytest-collections .lab build tests/output reports
