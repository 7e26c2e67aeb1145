"""The gRPC front end: Resolver (bytes through), Registry, health and reflection."""

from __future__ import annotations

from idnode.resolver.grpc.server import DEFAULT_MAX_MESSAGE_BYTES, start_grpc_server
from idnode.resolver.grpc.status import GRPC_CODES, handle_error_from_rpc, to_status

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "GRPC_CODES",
    "handle_error_from_rpc",
    "start_grpc_server",
    "to_status",
]
