"""The lab's Triton DataCenter plane: CloudAPI, VMAPI/CNAPI-like operator paths (lab/TRITON.md)."""
