"""gRPC client helpers: channels, bearer credentials and Handle errors decoded from rich status.

Used by the command line, the tests and the load generator. A failed call
raises :class:`ClientError` carrying the Handle response code the node put
in the ``google.rpc.Status`` details (an ``idnode.v1.HandleError``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status

from idnode.proto import common_pb2
from idnode.registry.errors import HandleError, from_code

__all__ = [
    "DEFAULT_TARGET",
    "MAX_MESSAGE_BYTES",
    "ClientError",
    "call",
    "call_stream",
    "connect",
    "error_from_rpc",
    "metadata",
    "resolve_token",
]

DEFAULT_TARGET = "127.0.0.1:50051"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_DETAILS_KEY = "grpc-status-details-bin"
_CHANNEL_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)


class ClientError(Exception):
    """A failed call: the Handle response code and message, and the gRPC status name.

    Attributes:
        code: Handle response code (100 not found, 102 invalid handle, ...;
            2 when the node sent none).
        message: human-readable reason.
        handle: the handle concerned, or "".
        status: the ``grpc.StatusCode`` name, e.g. ``"NOT_FOUND"``.
    """

    def __init__(self, code: int, message: str, handle: str = "", status: str = "UNKNOWN") -> None:
        self.code = code
        self.message = message
        self.handle = handle
        self.status = status
        super().__init__(f"{code} {message}")

    def as_handle_error(self) -> HandleError:
        """The typed :class:`~idnode.registry.errors.HandleError` for this code."""
        return from_code(self.code, self.message, self.handle)


def connect(target: str, tls: Any = None, ca: str | Path | None = None) -> grpc.Channel:
    """A channel to ``HOST:PORT`` that accepts messages up to 64 MiB: plain, or TLS with ``tls``
    (a :class:`idnode.sync.tls.TopTls`, for the top-level node), or TLS trusting the PEM roots in
    ``ca`` (a node serving ``--tls-cert``; ``idnode certs dev`` writes a development CA).

    Connecting is lazy: an unreachable node shows up as a :class:`ClientError`
    with status ``UNAVAILABLE`` on the first call.

    Raises:
        OSError: ``ca`` cannot be read.
    """
    from idnode.sync.tls import LinkTls, channel

    if ca is not None:
        try:
            tls = LinkTls(ca=Path(ca).read_bytes())
        except OSError as exc:
            raise OSError(f"cannot read --ca {ca}: {exc.strerror or exc}") from None
    return channel(target, tls, _CHANNEL_OPTIONS, aio=False)


def metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying ``token`` as a bearer credential (empty without one)."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def _rich_status(err: grpc.Call) -> status_pb2.Status | None:
    try:
        return rpc_status.from_call(err)
    except ValueError:
        # Code or message disagree with the rich status; the details still help.
        for key, value in err.trailing_metadata() or ():
            if key == _DETAILS_KEY:
                return status_pb2.Status.FromString(value)
        return None


def error_from_rpc(err: grpc.RpcError, target: str | None = None) -> ClientError:
    """Convert a failed call (also a failed future's exception) into a :class:`ClientError`.

    Args:
        err: the ``grpc.RpcError`` (which is also a ``grpc.Call``).
        target: the node address, named in messages about reaching it.
    """
    status_code = err.code() if isinstance(err, grpc.Call) else None
    status = status_code.name if status_code is not None else "UNKNOWN"
    details = (err.details() if isinstance(err, grpc.Call) else None) or ""
    rich = None
    if isinstance(err, grpc.Call):
        try:
            rich = _rich_status(err)
        except Exception:
            rich = None
    if rich is not None:
        for detail in rich.details:
            if detail.Is(common_pb2.HandleError.DESCRIPTOR):
                handle_error = common_pb2.HandleError()
                detail.Unpack(handle_error)
                return ClientError(
                    handle_error.response_code or 2,
                    handle_error.message or details or status.lower(),
                    handle_error.handle,
                    status,
                )
    where = f"the node at {target}" if target else "the node"
    if status_code == grpc.StatusCode.UNAVAILABLE:
        message = f"cannot reach {where}" + (f": {details}" if details else "")
    elif status_code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"no answer from {where} in time"
    else:
        message = details or f"call failed with status {status}"
    return ClientError(2, message, "", status)


def call(
    method: Callable[..., Any],
    request: Any,
    token: str | None = None,
    timeout: float | None = 30,
    *,
    target: str | None = None,
) -> Any:
    """Make one unary call, e.g. ``call(stub.Resolve, ResolveRequest(handle=h))``.

    Args:
        method: a stub's unary method.
        request: its request message.
        token: bearer credential sent as ``authorization`` metadata, if any.
        timeout: seconds; ``None`` waits for ever.
        target: the node address, only used in error messages.

    Returns:
        The response message.

    Raises:
        ClientError: the call failed; see :func:`error_from_rpc`.
    """
    try:
        return method(request, metadata=metadata(token), timeout=timeout)
    except grpc.RpcError as err:
        raise error_from_rpc(err, target) from None


def call_stream(
    method: Callable[..., Any],
    request: Any,
    token: str | None = None,
    timeout: float | None = None,
    *,
    target: str | None = None,
) -> Iterator[Any]:
    """Iterate a server-streaming call's messages; failures, even mid-stream, raise ClientError."""
    responses = method(request, metadata=metadata(token), timeout=timeout)
    try:
        yield from responses
    except grpc.RpcError as err:
        raise error_from_rpc(err, target) from None
    finally:
        responses.cancel()


def resolve_token(
    explicit: str | None,
    token_file: str | os.PathLike[str] | None,
    data_dir: str | os.PathLike[str] | None,
) -> str | None:
    """The bearer credential to send, or None for anonymous calls.

    In order: ``explicit``; the stripped contents of ``token_file``; the
    node-admin credential ``<data_dir>/admin.credential`` when it exists and
    is readable (an operator on the node's machine needs no copy of it);
    else None.

    Raises:
        ValueError: ``token_file`` was given but cannot be read or is empty.
    """
    if explicit:
        return explicit.strip()
    if token_file:
        try:
            text = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"cannot read token file {token_file}: {reason}") from None
        if not text:
            raise ValueError(f"token file {token_file} is empty")
        return text
    if data_dir:
        try:
            text = (Path(data_dir) / "admin.credential").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text or None
    return None
