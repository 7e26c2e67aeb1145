"""Upward sync to the top-level node and read-replica following (later issues)."""
