"""The lab's VirtFusion plane: a control server over real SSH whose servers are real QEMU guests
(see lab/VIRTFUSION.md). ``lab.virtfusion.vfcli`` starts with python -S: keep this package empty."""
