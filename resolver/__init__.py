"""The read path: resolve pipeline stages and the front ends (gRPC today)."""
