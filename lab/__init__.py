"""The lab: a local emulator of the Avi Vantage (NSX ALB) controller REST API.

Run it with ``python -m lab serve|start|stop|ctl`` from the repository root; see lab/README.md
and lab/AVI.md (the contract with the collection).
"""
