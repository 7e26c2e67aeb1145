"""The read path: a resolve request run through small ordered stages to reply bytes.

Every front end (gRPC today; HTTP and DNS later) builds a :class:`Query` and
calls :func:`resolve` or :func:`resolve_many`. The stages share one contract,
modelled on CoreDNS plugins::

    def stage(query: Query, registry) -> bytes | None

A stage fills fields of the query and returns ``None`` to pass on, returns
the reply bytes to answer, or raises a
:class:`~idnode.registry.errors.HandleError` to fail. :data:`STAGES` declares
their order. Replies are ``idnode.v1.ResolveResponse`` wire bytes assembled
from the stored value frames by the ``_fastpath`` byte functions: no protobuf
Python object is built on this path (DESIGN.md, principles 2 and 3).

``registry`` is anything with the read helpers of
:class:`idnode.registry.service.Registry`: ``lookup(prefix, suffix)``,
``serves(prefix)`` and ``can_read_private(principal, prefix)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from idnode._fastpath import (
    FLAG_TOMBSTONE,
    PERM_PUBLIC_READ,
    RecordError,
    decode_header,
    encode_batch_response,
    encode_resolve_response,
    parse_handle,
    resolve_local,
    select_frames,
)
from idnode.registry.auth import ANONYMOUS, Principal
from idnode.registry.errors import (
    HandleDeleted,
    HandleError,
    HandleNotFound,
    InvalidValue,
    ServerError,
    ServerNotResponsible,
    ValuesNotFound,
)

__all__ = [
    "MAX_BATCH_HANDLES",
    "STAGES",
    "Query",
    "Stage",
    "local_store",
    "normalise",
    "recurse",
    "recursor_of",
    "referral",
    "render",
    "resolve",
    "resolve_many",
    "resolve_many_recursive",
    "resolve_recursive",
]

logger = logging.getLogger(__name__)

MAX_BATCH_HANDLES = 1000
"""Handles per batch (BatchResolve, each ResolveStream message)."""

SUCCESS = 1


class Query:
    """One handle being resolved: the request, and what the stages learn.

    Set by the caller: ``text`` (the handle as received), ``indexes`` and
    ``types`` (filters; empty = all), ``principal``. Filled by the stages:
    ``prefix``/``suffix``/``handle`` (normalised, by :func:`normalise`),
    ``record`` and ``offset`` (stored record bytes and its frames offset, by
    :func:`local_store`; ``record`` stays ``None`` for a prefix this node does
    not serve).
    """

    __slots__ = (
        "handle",
        "indexes",
        "offset",
        "prefix",
        "principal",
        "record",
        "suffix",
        "text",
        "types",
    )

    def __init__(
        self,
        text: str,
        indexes: tuple[int, ...] = (),
        types: tuple[str, ...] = (),
        principal: Principal = ANONYMOUS,
    ) -> None:
        self.text = text
        self.indexes = indexes
        self.types = types
        self.principal = principal
        self.prefix = ""
        self.suffix = ""
        self.handle = ""
        self.record: bytes | None = None
        self.offset = 0

    def __repr__(self) -> str:
        return f"Query({self.text!r}, indexes={self.indexes!r}, types={self.types!r}, principal={self.principal!r})"


Stage = Callable[[Query, Any], "bytes | None"]


def normalise(query: Query, registry: Any) -> None:
    """Split and normalise the handle text.

    Raises:
        InvalidHandle (102): the text is not a valid handle.
    """
    query.prefix, query.suffix = parse_handle(query.text)
    query.handle = query.prefix + "/" + query.suffix
    return None


def local_store(query: Query, registry: Any) -> None:
    """Read the stored record of a handle under a prefix this node serves.

    Passes on with ``query.record`` set, or with it ``None`` when the prefix
    is not served here (the referral stage decides then). ``registry.lookup``
    already compares the full handle stored with digested (over-long) keys.

    Raises:
        HandleDeleted (100): the record is a tombstone.
        HandleNotFound (100): never registered under a served prefix.
        ServerError (2): the stored record cannot be decoded.
    """
    record = registry.lookup(query.prefix, query.suffix)
    if record is None:
        if registry.serves(query.prefix):
            raise HandleNotFound(f"handle {query.handle} not found", handle=query.handle)
        return None
    try:
        flags, _, _, _, _, offset = decode_header(record)
    except RecordError as exc:
        raise _unreadable(query, exc) from None
    if flags & FLAG_TOMBSTONE:
        raise HandleDeleted(f"handle {query.handle} was deleted", handle=query.handle)
    query.record = record
    query.offset = offset
    return None


def referral(query: Query, registry: Any) -> None:
    """Answer for prefixes this node does not serve.

    The stages are synchronous; recursion through the top-level node is
    asynchronous, so the front ends catch this 301 and call :func:`recurse`
    (``resolver/recursion.py``) when the node has a recursor (``--top``).

    Raises:
        ServerNotResponsible (301): the prefix is not served here.
    """
    if query.record is None:
        raise ServerNotResponsible(
            f"this node does not serve prefix {query.prefix}; recursion via the top-level node is not configured",
            handle=query.handle,
        )
    return None


def render(query: Query, registry: Any) -> bytes:
    """The ResolveResponse of the values the principal may read, filtered.

    Anonymous readers see public-readable values only (the hot path: no
    registry call). When nothing is visible because of permissions the
    answer is success with no values, as Handle servers answer public-only
    resolution.

    Raises:
        ValuesNotFound (200): index or type filters were given and no value
            of the handle matches them.
        ServerError (2): the stored record cannot be decoded.
    """
    principal = query.principal
    required = PERM_PUBLIC_READ
    if not principal.is_anonymous and registry.can_read_private(principal, query.prefix):
        required = 0
    record = query.record
    assert record is not None  # referral answers otherwise
    indexes, types = query.indexes, query.types
    try:
        frames = select_frames(record, query.offset, required, indexes, types)
        # Tell "nothing matches" (200) apart from "the matches are private" (empty success).
        if (
            not frames
            and (indexes or types)
            and (not required or not select_frames(record, query.offset, 0, indexes, types))
        ):
            raise ValuesNotFound(
                f"handle {query.handle} has no values matching {_describe_filters(query)}",
                handle=query.handle,
            )
    except RecordError as exc:
        raise _unreadable(query, exc) from None
    return encode_resolve_response(SUCCESS, query.handle, frames)


def _unreadable(query: Query, exc: RecordError) -> ServerError:
    logger.error("stored record of %s cannot be decoded: %s", query.handle, exc)
    message = f"stored record of handle {query.handle} cannot be read"
    return ServerError(message, handle=query.handle)


def _describe_filters(query: Query) -> str:
    parts = []
    if query.indexes:
        parts.append("index " + ", ".join(str(i) for i in query.indexes))
    if query.types:
        parts.append("type " + ", ".join(query.types))
    return " and ".join(parts)


STAGES: tuple[Stage, ...] = (normalise, local_store, referral, render)
"""The read path, in order (the ``plugin.cfg`` of this node)."""


def resolve(query: Query, registry: Any) -> bytes:
    """Run the stages until one answers.

    Returns:
        ``idnode.v1.ResolveResponse`` wire bytes with response_code 1.

    Raises:
        HandleError: the failing stage's error (InvalidHandle 102,
            HandleNotFound/HandleDeleted 100, ValuesNotFound 200,
            ServerNotResponsible 301, ServerError 2).
    """
    for stage in STAGES:
        reply = stage(query, registry)
        if reply is not None:
            return reply
    raise ServerError(f"no stage answered for handle {query.text}")  # render always answers


def resolve_many(
    handles: Sequence[str],
    indexes: tuple[int, ...],
    types: tuple[str, ...],
    principal: Principal,
    registry: Any,
    failed: list[str] | None = None,
) -> bytes:
    """Resolve a batch; the same filters apply to every handle.

    ``failed``, when given, receives the text of each handle answered with an
    error (the per-prefix statistics count them).

    Each handle that fails becomes an in-band ResolveResponse carrying its
    response_code and message, with the normalised handle, or the handle as
    given when it could not be normalised. Results keep the request order.

    Returns:
        ``idnode.v1.BatchResolveResponse`` wire bytes.

    Raises:
        InvalidValue (202): more than :data:`MAX_BATCH_HANDLES` handles.
    """
    return encode_batch_response(_batch_replies(handles, indexes, types, principal, registry, None, failed))


def _batch_replies(
    handles: Sequence[str],
    indexes: tuple[int, ...],
    types: tuple[str, ...],
    principal: Principal,
    registry: Any,
    deferred: list[tuple[int, Query]] | None,
    failed: list[str] | None = None,
) -> list[bytes]:
    """The replies of a batch in order; with ``deferred`` a list, handles under
    prefixes not served here are appended to it (position, query) instead of
    failing with 301 (their reply slot stays empty for the caller to fill)."""
    if len(handles) > MAX_BATCH_HANDLES:
        raise InvalidValue(f"at most {MAX_BATCH_HANDLES} handles per batch, got {len(handles)}")
    with registry.snapshot() as view:
        # One read transaction for the whole batch: cheaper, and one consistent view.
        if principal.is_anonymous:
            # The common case in one compiled loop; every handle it defers
            # (None) goes through the stages, which define every answer.
            replies = resolve_local(handles, view.get, PERM_PUBLIC_READ, indexes, types)
        else:
            replies = [None] * len(handles)
        for position, reply in enumerate(replies):
            if reply is None:
                text = handles[position]
                query = Query(text, indexes, types, principal)
                try:
                    replies[position] = resolve(query, view)
                except ServerNotResponsible as err:
                    if deferred is not None and query.record is None and query.prefix:
                        deferred.append((position, query))
                        replies[position] = b""
                    else:
                        replies[position] = encode_resolve_response(err.code, query.handle or text, [], err.message)
                        if failed is not None:
                            failed.append(text)
                except HandleError as err:
                    replies[position] = encode_resolve_response(err.code, query.handle or text, [], err.message)
                    if failed is not None:
                        failed.append(text)
    return replies


def recursor_of(registry: Any) -> Any:
    """The :class:`~idnode.resolver.recursion.Recursor` set on the registry by the node
    (``--top``), or None: then prefixes not served answer 301."""
    return getattr(registry, "recursor", None)


async def recurse(query: Query, registry: Any, error: HandleError, hops: int = 0) -> bytes:
    """Answer a query that :func:`resolve` failed with ``error`` through recursion.

    Only a 301 for a prefix not served here (``query.record`` is None) is
    resolved recursively, when the node has a recursor; any other error is
    raised again.

    Returns:
        The owner's ``ResolveResponse`` bytes with ``non_authoritative`` set.
    """
    recursor = recursor_of(registry)
    if recursor is None or not isinstance(error, ServerNotResponsible) or query.record is not None or not query.prefix:
        raise error
    return await recursor.resolve(query.prefix, query.handle, query.indexes, query.types, hops)


async def resolve_recursive(query: Query, registry: Any, hops: int = 0) -> bytes:
    """:func:`resolve`, then :func:`recurse` for prefixes this node does not serve."""
    try:
        return resolve(query, registry)
    except ServerNotResponsible as exc:
        return await recurse(query, registry, exc, hops)


async def resolve_many_recursive(
    handles: Sequence[str],
    indexes: tuple[int, ...],
    types: tuple[str, ...],
    principal: Principal,
    registry: Any,
    hops: int = 0,
    failed: list[str] | None = None,
) -> bytes:
    """:func:`resolve_many`, resolving handles under prefixes not served here
    recursively (concurrently, after the read transaction closed)."""
    recursor = recursor_of(registry)
    if recursor is None:
        return resolve_many(handles, indexes, types, principal, registry, failed)
    deferred: list[tuple[int, Query]] = []
    replies = _batch_replies(handles, indexes, types, principal, registry, deferred, failed)
    if deferred:
        import asyncio

        results = await asyncio.gather(
            *(recursor.resolve(q.prefix, q.handle, q.indexes, q.types, hops) for _, q in deferred),
            return_exceptions=True,
        )
        for (position, query), result in zip(deferred, results, strict=True):
            if isinstance(result, HandleError):
                result = encode_resolve_response(result.code, query.handle, [], result.message)
                if failed is not None:
                    failed.append(handles[position])
            elif isinstance(result, BaseException):
                raise result
            replies[position] = result
    return encode_batch_response(replies)
