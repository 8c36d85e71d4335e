"""The Avi plane's upgrade engine."""
