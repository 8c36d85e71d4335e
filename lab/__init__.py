"""The lab: local emulators of the vendor APIs the collection drives, one package per vendor plane
on shared infrastructure, served by one process (``python -m lab serve|start|stop|ctl``):

- ``lab.avi``: the Avi Vantage (NSX ALB) controller REST API, in the vendor's shapes per API version
  (contract: lab/AVI.md);
- ``lab.triton``: Triton DataCenter CloudAPI and the operator APIs (lab/TRITON.md);
- ``lab.virtfusion``: a VirtFusion control server over real SSH with real QEMU guests
  (lab/VIRTFUSION.md).

Shared: ``lab.planes`` (which planes exist; nothing else names them), ``lab.server``, ``lab.cli``,
``lab.worldbase`` (world, clock, persistence, faults), ``lab.store``, ``lab.web`` (admin routes, fault
layer), ``lab.tls``. See lab/README.md.
"""
