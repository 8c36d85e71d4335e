# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help venv collection demo lab-env test bench bench-triton bench-upgrade bench-virtfusion ee docs clean

help:
	@echo "make demo   - run the demo on the lab: Avi SE evacuation, VS migration, rolling upgrade; Triton and VirtFusion migrations and evacuations"
	@echo "make test   - run every test (unit, lab, integration, sanity, lint, docs, Galaxy import, molecule; units, sanity and a lab smoke on every ansible-core 2.17-2.21)"
	@echo "make lab-env - start a lab (LAB_TOPOLOGY=lab/topologies/demo.yml, LAB_STATE=.lab/demo) unless it runs; print its connection (eval it) and write LAB_STATE/extra-vars.yml"
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

LAB_TOPOLOGY ?= lab/topologies/demo.yml
LAB_STATE ?= .lab/demo
lab-env: collection
	@.venv/bin/python -m lab ctl --state-dir $(LAB_STATE) health >/dev/null 2>&1 \
	  || .venv/bin/python -m lab start --topology $(LAB_TOPOLOGY) --state-dir $(LAB_STATE) --reset >/dev/null
	@.venv/bin/python -m lab env --state-dir $(LAB_STATE)

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
	@bash scripts/system-packages.sh
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
