"""The rehearsal: run the operator's planned maintenance on a twin of their system in the lab, and forecast.

Not part of the shipped collection (it starts the lab, which lives in this repository): use it from a checkout,
``python -m rehearsal ...`` or the playbook ``rehearsal/rehearse.yml`` (docs/docsite/rst/guide_rehearsal.rst).

- ``prepare``: the twin (from ``fleetops.maintenance.twin_export``) plus the operator's assumptions and lab
  timings becomes a lab (``python -m lab start``); the operator's variables are translated (pseudonyms) and
  pointed at that lab (never at the real system); the lab's state before the run is kept.
- ``maintain``: the collection's own playbook for the maintenance, with those variables, against the lab.
- ``forecast``: the lab's state after the run, compared with before: the order of work (starts at real speed),
  the duration at real speed, the schedule (waves, budget groups), what is at risk, SEs the controller would
  create, capacity shortfalls, disruption. Every number is a forecast from the lab's model (``forecast.py``; the
  time arithmetic in ``timeline.py``).
- ``maintain_fleet`` (Triton, VirtFusion): the operator's tasks file and health check never run (``fleet.py``: a pause
  on the controller stands for them); the forecast adds the fleet's node order, waves, per-node destinations and
  capacity verdicts, and the memory each compute node or hypervisor held at most.
- ``stop``: stop the lab.
- ``observe``, ``measure``, ``compare``: the same numbers measured around a real run on any lab (the lab a twin
  was exported from, in the demonstration), and the agreement of a forecast with them.
"""
