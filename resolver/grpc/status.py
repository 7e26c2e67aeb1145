"""The one table from Handle errors to gRPC status codes, and rich status details.

Every failure leaving the gRPC front end goes through :func:`to_status`: the
gRPC code comes from :data:`GRPC_CODES` (keyed by Handle response code, so
subclasses sharing a code such as HandleDeleted share its status) and the
``google.rpc.Status`` details carry an ``idnode.v1.HandleError`` with the
Handle response code, message and handle. Clients rebuild the typed error
with :func:`handle_error_from_rpc`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc_status import rpc_status

from idnode import requestid
from idnode.proto import common_pb2
from idnode.registry.errors import HandleError, ServerError, from_code

__all__ = [
    "GRPC_CODES",
    "INTERNAL_MESSAGE",
    "abort",
    "grpc_code",
    "handle_code_of_metadata",
    "handle_error_from_rpc",
    "to_status",
]

logger = logging.getLogger(__name__)

_C = grpc.StatusCode
GRPC_CODES: Mapping[int, grpc.StatusCode] = MappingProxyType(
    {
        2: _C.INTERNAL,  # ServerError
        3: _C.RESOURCE_EXHAUSTED,  # ServerBusy
        4: _C.INVALID_ARGUMENT,  # ProtocolError
        5: _C.UNIMPLEMENTED,  # OperationNotSupported
        100: _C.NOT_FOUND,  # HandleNotFound, HandleDeleted
        101: _C.ALREADY_EXISTS,  # HandleAlreadyExists
        102: _C.INVALID_ARGUMENT,  # InvalidHandle
        200: _C.NOT_FOUND,  # ValuesNotFound
        201: _C.ALREADY_EXISTS,  # ValueAlreadyExists
        202: _C.INVALID_ARGUMENT,  # InvalidValue
        301: _C.FAILED_PRECONDITION,  # ServerNotResponsible
        302: _C.FAILED_PRECONDITION,  # (Handle: server backup)
        303: _C.FAILED_PRECONDITION,  # PrefixReferral
        400: _C.PERMISSION_DENIED,  # InvalidAdmin
        401: _C.PERMISSION_DENIED,  # InsufficientPermissions
        402: _C.UNAUTHENTICATED,  # AuthenticationNeeded
        403: _C.UNAUTHENTICATED,  # AuthenticationFailed
    }
)
"""Handle response code -> gRPC status code; any other code is INTERNAL."""

INTERNAL_MESSAGE = "internal server error"
"""The only text a client sees of an unexpected exception."""


def grpc_code(error: HandleError) -> grpc.StatusCode:
    """The gRPC status code of a Handle error (INTERNAL when the code is unmapped); a class may name its
    own (``grpc_status``: a replica not ready is UNAVAILABLE, not the RESOURCE_EXHAUSTED of its code 3)."""
    return getattr(error, "grpc_status", None) or GRPC_CODES.get(error.code, grpc.StatusCode.INTERNAL)


def to_status(error: BaseException) -> grpc.Status:
    """The gRPC status to abort a call with.

    A :class:`HandleError` keeps its message; its HandleError detail carries
    the response code, message and handle. Any other exception is a bug: it
    is logged here with its traceback (once: callers must not log it again)
    and becomes INTERNAL, code 2, with a generic message that leaks nothing.
    """
    if not isinstance(error, HandleError):
        logger.error("unexpected error while serving a gRPC call", exc_info=error)
        error = ServerError(INTERNAL_MESSAGE)
    code = grpc_code(error)
    detail = any_pb2.Any()
    detail.Pack(common_pb2.HandleError(response_code=error.code, message=error.message, handle=error.handle))
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=error.message, details=[detail]))


async def abort(context: grpc.aio.ServicerContext, error: BaseException) -> NoReturn:
    """End an aio call with the status of ``error`` (see :func:`to_status`), the request id kept in its trailers."""
    status = to_status(error)
    trailers = tuple(status.trailing_metadata)
    request_id = requestid.current()
    if request_id is not None:
        trailers += ((requestid.GRPC_KEY, request_id),)
    await context.abort(status.code, status.details, trailers)
    raise AssertionError("abort_with_status returned")  # it raises; this keeps NoReturn honest


def _handle_error_detail(metadata: Any) -> common_pb2.HandleError | None:
    """The HandleError in a call's trailing metadata (its rich status details), or None."""
    for key, value in metadata or ():
        if key != rpc_status.GRPC_DETAILS_METADATA_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(common_pb2.HandleError.DESCRIPTOR):
                found = common_pb2.HandleError()
                detail.Unpack(found)
                return found
    return None


def handle_code_of_metadata(metadata: Any) -> int | None:
    """The Handle response code in a call's trailing metadata (its rich status details), or None."""
    found = _handle_error_detail(metadata)
    return None if found is None else found.response_code


def handle_error_from_rpc(error: grpc.RpcError) -> HandleError | None:
    """Rebuild the typed Handle error from a failed call (sync or aio).

    Returns:
        The :class:`HandleError` subclass for the response code in the
        status details, or ``None`` when the call carries no HandleError
        detail (e.g. a transport failure).
    """
    found = _handle_error_detail(error.trailing_metadata())  # type: ignore[attr-defined]
    return None if found is None else from_code(found.response_code, found.message, found.handle)
