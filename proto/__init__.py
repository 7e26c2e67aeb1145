"""The gRPC API: .proto files and their generated stubs (see generate.py)."""
