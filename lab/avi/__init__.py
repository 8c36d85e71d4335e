"""The Avi controller plane (lab.planes): see lab/AVI.md for its contract."""
