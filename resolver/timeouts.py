"""Server-side request timeouts: a deadline around each call or request, and the idle limit of a client's stream.

The front ends run their handlers inside :func:`deadline` (``--request-timeout``):
when it expires the handler's task is cancelled where it waits (reading a
trickled body, waiting for the writer, a recursive lookup) and the front end
answers :class:`RequestTimedOut` (Handle code 3; gRPC DEADLINE_EXCEEDED, HTTP
408 while the body was still arriving, else 503). A write already handed to
the writer is not torn: a job the writer has not started is dropped (its
future is cancelled, ``registry/writer.py``), one it has started commits whole
with its group; either way the caller is not acknowledged. A client's stream
(gRPC ``ResolveStream``) has no total deadline but may wait at most
``--stream-idle-timeout`` for the client's next message (:func:`idle_limited`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator

import grpc

from idnode.registry.errors import ServerBusy

__all__ = ["RequestTimedOut", "deadline", "expired", "idle_limited"]

_CURRENT: contextvars.ContextVar[asyncio.Timeout | None] = contextvars.ContextVar("idnode_deadline", default=None)


class RequestTimedOut(ServerBusy):
    """the request took longer than this server allows"""

    grpc_status = grpc.StatusCode.DEADLINE_EXCEEDED


@contextlib.asynccontextmanager
async def deadline(seconds: float) -> AsyncIterator[asyncio.Timeout]:
    """Run the block under a ``seconds`` deadline; past it the block is cancelled and ``TimeoutError`` raised.

    While the block runs, :func:`expired` tells code inside it (a metering
    ``finally``) whether a cancellation it sees is this deadline's.
    """
    async with asyncio.timeout(seconds) as timeout:
        token = _CURRENT.set(timeout)
        try:
            yield timeout
        finally:
            _CURRENT.reset(token)


def expired() -> bool:
    """True when the current :func:`deadline` has passed (its cancellation is under way)."""
    timeout = _CURRENT.get()
    return timeout is not None and timeout.expired()


async def idle_limited(messages: AsyncIterator[object], seconds: float, what: str) -> AsyncIterator[object]:
    """``messages`` passed on, each awaited at most ``seconds``.

    Raises:
        RequestTimedOut (code 3): no message (nor the end of the stream) came within ``seconds``.
    """
    iterator = aiter(messages)
    while True:
        try:
            async with asyncio.timeout(seconds):
                message = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestTimedOut(
                f"{what}: no message from the client for {seconds:g} s (--stream-idle-timeout)"
            ) from None
        yield message
