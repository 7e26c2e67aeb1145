"""Recursive resolution through the identifier hierarchy (issue 6 item 4).

A node asked for a handle under a prefix it does not serve asks the
top-level node which node serves the prefix (``TopLevel.ResolvePrefix``),
resolves the handle at that node over gRPC and answers with the owner's
values, marked non-authoritative. Front ends reach it through
:func:`idnode.resolver.pipeline.recurse` (gRPC, HTTP) and the DNS responder.

Caches, all bounded (least recently used entries go first):

- prefix -> site: for the TTL of the HS_SITE values the top-level node sent
  (default :data:`SITE_TTL`); "no node serves this prefix" (100) for
  :data:`NEGATIVE_TTL`;
- (handle, indexes, types) -> the owner's ResolveResponse bytes: for the
  smallest TTL of the values (relative TTLs; absolute ones until then);
  "handle not found" answers of the owner for :data:`NEGATIVE_TTL`.

Loops and limits: every recursive call carries ``x-idnode-hops`` gRPC
metadata, one more than the request that caused it; a request arriving with
:data:`HOP_LIMIT` hops or more is refused with code 6. A node never sends a
recursive call to itself: a site that is one of its own addresses or an
owning node prefix that is its own ends the resolution here (301, or 100
when the top node only knows the prefix lies under this node).

TLS: the top-level node is dialled with ``--top-*`` (``sync/tls.py``). An
owning node is dialled over TLS when the top node's site record says it
serves TLS (``Site.tls``, ``"tls":true`` in the HS_SITE JSON: set by the
owner's outbox when it serves ``--tls-cert``), trusting ``--peer-ca`` (else
the system roots) and presenting ``--peer-cert`` when given; in clear
otherwise. A failed handshake is a 301 naming the site with a hint, and is
logged once per site and reason.

Signed values: on a cache fill the owner's ``HS_SIGNATURE`` is checked
(:mod:`idnode.registry.signing`) and the verdict is appended to the cached
reply as ``ResolveResponse.signature`` / ``signature_message``; HTTP shows it
in :data:`SIGNATURE_HEADER`, DNS answers SERVFAIL for :data:`SIGNATURE_FAILED`.

Failures (all :class:`~idnode.registry.errors.HandleError`):

- 6 RecursionTooDeep: the hop limit is reached;
- 100 HandleNotFound: no node serves the prefix (the top-level node said 100);
- 301 ServerNotResponsible: the owner (or the top-level node) is unreachable:
  the message names the site tried;
- 303 PrefixReferral: ``--no-recursion``: the message carries the site
  (``grpc://host:port``, ``grpcs://`` when it serves TLS) and :attr:`PrefixReferral.site`;
- the owner's own error (100, 200, ...), passed on.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import grpc

from idnode import requestid
from idnode.proto import resolver_pb2, toplevel_pb2, toplevel_pb2_grpc
from idnode.registry.errors import (
    HandleError,
    HandleNotFound,
    PrefixReferral,
    RecursionTooDeep,
    ServerNotResponsible,
)

__all__ = [
    "HOPS_METADATA",
    "HOP_LIMIT",
    "NEGATIVE_TTL",
    "NON_AUTHORITATIVE",
    "SITE_TTL",
    "Recursor",
    "Site",
    "hops_of",
]

logger = logging.getLogger(__name__)

HOPS_METADATA = "x-idnode-hops"
"""gRPC metadata key: how many recursive calls led to this request."""
HOP_LIMIT = 4
SITE_TTL = 3600.0
"""Seconds a prefix's site is cached when the top node's values carry no TTL."""
NEGATIVE_TTL = 60.0
"""Seconds an answer "no such prefix" / "no such handle" is cached."""
ANSWER_CACHE_SIZE = 100_000
SITE_CACHE_SIZE = 10_000
TIMEOUT = 5.0
"""Seconds per call to the top node or an owning node."""

NON_AUTHORITATIVE = b"\x28\x01"
"""``ResolveResponse.non_authoritative = true`` (field 5, varint): appended to
the owner's reply bytes (protobuf merges a field appended to a message)."""

_RESOLVE = "/idnode.v1.Resolver/Resolve"
_UNREACHABLE = frozenset((grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED))


def hops_of(metadata: Iterable[tuple[str, Any]] | None) -> int:
    """The hop count in gRPC invocation metadata (0 when absent or malformed)."""
    for key, value in metadata or ():
        if key == HOPS_METADATA:
            try:
                return max(0, int(value))
            except (TypeError, ValueError):
                return 0
    return 0


class Site:
    """Where a prefix is served: the owning node prefix and its gRPC addresses (primary first)."""

    __slots__ = ("code", "node_prefix", "secure", "targets")

    def __init__(
        self, code: int, node_prefix: str, targets: tuple[str, ...], secure: frozenset[str] = frozenset()
    ) -> None:
        self.code = code  # 1 approved / a node prefix, 303 covered by a node, 100 unknown
        self.node_prefix = node_prefix
        self.targets = targets  # "host:port"
        self.secure = secure  # the targets served over TLS

    def __repr__(self) -> str:
        return f"Site({self.code}, {self.node_prefix!r}, {self.targets!r}, {set(self.secure)!r})"

    def url_of(self, target: str) -> str:
        """``grpcs://host:port`` for a target served over TLS, else ``grpc://host:port``."""
        return f"{'grpcs' if target in self.secure else 'grpc'}://{target}"

    @property
    def url(self) -> str:
        """The first gRPC address as ``grpc://host:port`` or ``grpcs://`` (empty when none)."""
        return self.url_of(self.targets[0]) if self.targets else ""


class _Lru:
    """A bounded map of key -> (expiry, value); expired entries read as absent."""

    __slots__ = ("_data", "_size")

    def __init__(self, size: int) -> None:
        self._data: collections.OrderedDict[Any, tuple[float, Any]] = collections.OrderedDict()
        self._size = size

    def get(self, key: Any, now: float) -> Any:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry[1]

    def put(self, key: Any, value: Any, expiry: float) -> None:
        self._data[key] = (expiry, value)
        self._data.move_to_end(key)
        while len(self._data) > self._size:
            self._data.popitem(last=False)

    def pop(self, key: Any) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)


def _target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _site_ttl(values: Iterable[Any], default: float, wall: float) -> float:
    ttls = []
    for value in values:
        if value.type != "HS_SITE" or not value.HasField("ttl"):
            continue
        ttls.append(value.ttl - wall if value.ttl_absolute else value.ttl)
    return max(0.0, min(ttls)) if ttls else default


def _sites_of(reply: toplevel_pb2.ResolvePrefixResponse) -> tuple[tuple[str, ...], frozenset[str]]:
    """gRPC addresses, primary ones first, and those served over TLS: from ``sites``, else from the HS_SITE
    JSON values."""
    primary: list[str] = []
    mirrors: list[str] = []
    secure: set[str] = set()
    for site in reply.sites:
        if site.protocol == toplevel_pb2.SITE_PROTOCOL_GRPC and site.host and site.port:
            (mirrors if site.mirror else primary).append(_target(site.host, site.port))
            if site.tls:
                secure.add(_target(site.host, site.port))
    if not primary and not mirrors:
        for value in reply.values:
            if value.type != "HS_SITE":
                continue
            try:
                doc = json.loads(value.data)
                grpc_servers = [s for s in doc.get("servers", ()) if s.get("protocol") == "grpc"]
                servers = [_target(str(s["host"]), int(s["port"])) for s in grpc_servers]
                secure.update(t for t, s in zip(servers, grpc_servers, strict=True) if s.get("tls") is True)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            (primary if doc.get("primary", True) else mirrors).extend(servers)
    return tuple(dict.fromkeys(primary + mirrors)), frozenset(secure)


def _answer_ttl(message: resolver_pb2.ResolveResponse, wall: float) -> float:
    """The smallest TTL of the values of a ResolveResponse (86400 s when a value carries none)."""
    ttls = []
    for value in message.values:
        ttl = value.ttl if value.HasField("ttl") else 86400
        ttls.append(ttl - wall if value.ttl_absolute else ttl)
    return max(0.0, min(ttls)) if ttls else NEGATIVE_TTL


class Recursor:
    """Resolves handles under prefixes this node does not serve, via the top-level node.

    Args:
        top: the top-level node, ``HOST:PORT``.
        node_prefix: this node's prefix (a site naming it is never called).
        own_sites: this node's own gRPC addresses (``HOST:PORT``; never called).
        recursion: False = ``--no-recursion``: answer 303 with the site instead.
        hop_limit: requests arriving with this many hops are refused (6).
        clock, wall: monotonic time (cache expiry) and wall time (absolute TTLs); tests pass fakes.
        top_tls: TLS to the top-level node (``sync.tls.TopTls``); None: a plain channel.
        peer_tls: TLS to owning nodes whose site says TLS (``sync.tls.LinkTls``, link ``peer``);
            None: the system roots, no client certificate.
    """

    def __init__(
        self,
        top: str,
        node_prefix: str,
        own_sites: Iterable[str] = (),
        *,
        recursion: bool = True,
        hop_limit: int = HOP_LIMIT,
        site_ttl: float = SITE_TTL,
        negative_ttl: float = NEGATIVE_TTL,
        answer_cache_size: int = ANSWER_CACHE_SIZE,
        site_cache_size: int = SITE_CACHE_SIZE,
        timeout: float = TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        top_tls: Any = None,
        peer_tls: Any = None,
        trust: Any = None,
    ) -> None:
        self.top = top
        self.top_tls = top_tls  # sync.tls.TopTls for the channel to the top node; None: plain
        self.peer_tls = peer_tls  # sync.tls.LinkTls for owners whose site says TLS; None: system roots
        self.trust = trust  # signing.TrustAnchors of --signer-ca: signers' HS_CERTs must chain to them; None: any
        self.node_prefix = node_prefix
        self.own_sites = set(own_sites)
        self.recursion = recursion
        self.hop_limit = hop_limit
        self.site_ttl = site_ttl
        self.negative_ttl = negative_ttl
        self.timeout = timeout
        self._clock = clock
        self._wall = wall
        self.sites = _Lru(site_cache_size)
        self.answers = _Lru(answer_cache_size)
        self._channels: dict[tuple[str, bool], grpc.aio.Channel] = {}
        self._peer_failures: dict[str, str] = {}  # owner target -> the TLS failure last logged
        self._top_stub: toplevel_pb2_grpc.TopLevelStub | None = None
        self.stats = collections.Counter()  # top_calls, owner_calls, {answer,site}_{hits,misses}

    def add_own_site(self, listen: str) -> None:
        """Register one more address of this node (``HOST:PORT``), never to be called."""
        self.own_sites.add(listen)

    # -- channels ---------------------------------------------------------------------

    def _channel(self, target: str, secure: bool = False) -> grpc.aio.Channel:
        """The channel to the top node (``--top-*``), or to an owner: TLS (``--peer-*``) when its site says so."""
        channel = self._channels.get((target, secure))
        if channel is None:
            from idnode.sync.tls import channel as open_channel

            tls = self.top_tls if target == self.top and not secure else self._peer(secure)
            channel = self._channels[(target, secure)] = open_channel(target, tls)
        return channel

    def _peer(self, secure: bool) -> Any:
        """The TLS of a channel to an owner: ``--peer-*`` (else the system roots) when ``secure``; None: plain."""
        if not secure:
            return None
        from idnode.sync.tls import LinkTls

        return self.peer_tls or LinkTls(link="peer")

    async def close(self) -> None:
        """Close the channels to the top node and the owners."""
        channels, self._channels = list(self._channels.values()), {}
        self._top_stub = None
        for channel in channels:
            await channel.close()

    # -- the site of a prefix --------------------------------------------------------

    async def site(self, prefix: str) -> Site:
        """The site of ``prefix`` from the cache, else from the top-level node.

        Raises:
            HandleNotFound (100): no node serves the prefix (cached negatively).
            ServerNotResponsible (301): the top-level node is unreachable.
        """
        now = self._clock()
        site = self.sites.get(prefix, now)
        if site is None:
            self.stats["site_misses"] += 1
            site = await self._ask_top(prefix)
        else:
            self.stats["site_hits"] += 1
        if site.code == 100:
            raise HandleNotFound(f"no node serves prefix {prefix} (top-level node {self.top})")
        return site

    async def _ask_top(self, prefix: str) -> Site:
        if self._top_stub is None:
            self._top_stub = toplevel_pb2_grpc.TopLevelStub(self._channel(self.top))
        self.stats["top_calls"] += 1
        try:
            reply = await self._top_stub.ResolvePrefix(
                toplevel_pb2.ResolvePrefixRequest(prefix=prefix), metadata=requestid.metadata(), timeout=self.timeout
            )
        except grpc.RpcError as exc:
            raise ServerNotResponsible(
                f"cannot ask the top-level node {self.top} for prefix {prefix}: {exc.code().name}"
            ) from None
        now = self._clock()
        if reply.response_code in (1, 303):
            site = Site(reply.response_code, reply.node_prefix, *_sites_of(reply))
            ttl = _site_ttl(reply.values, self.site_ttl, self._wall())
        else:
            site = Site(100, "", ())
            ttl = self.negative_ttl
        if ttl > 0:
            self.sites.put(prefix, site, now + ttl)
        return site

    # -- resolution -------------------------------------------------------------------

    async def resolve(
        self, prefix: str, handle: str, indexes: tuple[int, ...] = (), types: tuple[str, ...] = (), hops: int = 0
    ) -> bytes:
        """The owner's ResolveResponse wire bytes, with ``non_authoritative`` set.

        ``prefix``/``handle`` are normalised; ``hops`` is the hop count of
        the request being answered (0 from HTTP, DNS and direct callers).

        Raises:
            HandleError: 6, 100, 301, 303 as in the module documentation,
                or the owner's error; each carries ``handle``.
        """
        try:
            return await self._resolve(prefix, handle, indexes, types, hops)
        except HandleError as exc:
            if not exc.handle:
                exc.handle = handle
            raise

    async def _resolve(
        self, prefix: str, handle: str, indexes: tuple[int, ...], types: tuple[str, ...], hops: int, check: bool = True
    ) -> bytes:
        # check=False: a signing key fetched to check another answer; its own signature is not
        # checked (no chains of key fetches) and it is cached apart from what clients are sent.
        if hops >= self.hop_limit:
            raise RecursionTooDeep(f"recursion limit of {self.hop_limit} hops reached resolving {handle}")
        key = (handle, indexes, types) if check else (handle, indexes, types, "key")
        if self.recursion:
            cached = self.answers.get(key, self._clock())
            if cached is not None:
                self.stats["answer_hits"] += 1
                if isinstance(cached, HandleError):
                    raise type(cached)(cached.message, handle=handle)
                return cached
            self.stats["answer_misses"] += 1
        site = await self.site(prefix)
        if site.node_prefix == self.node_prefix:
            if site.code == 303:
                raise HandleNotFound(f"handle {handle} not found: prefix {prefix} is not allocated on this node")
            raise ServerNotResponsible(
                f"the top-level node names this node ({self.node_prefix}) for prefix {prefix}, which it does not serve"
            )
        targets = [t for t in site.targets if t not in self.own_sites]
        if not targets:
            if site.targets:
                raise ServerNotResponsible(
                    f"the site of prefix {prefix} ({site.url}) is this node; not resolving at itself"
                )
            raise ServerNotResponsible(f"node {site.node_prefix} serving prefix {prefix} has no gRPC site")
        if not self.recursion:
            url = site.url_of(targets[0])
            error = PrefixReferral(f"prefix {prefix} is served by node {site.node_prefix} at {url} (recursion is off)")
            error.site = url  # type: ignore[attr-defined]
            raise error
        request = resolver_pb2.ResolveRequest(handle=handle, indexes=indexes, types=types).SerializeToString()
        metadata = requestid.metadata(((HOPS_METADATA, str(hops + 1)),))  # the request id follows the hops
        failures = []
        for target in targets:
            secure = target in site.secure
            method = self._channel(target, secure).unary_unary(_RESOLVE)
            self.stats["owner_calls"] += 1
            try:
                reply = await method(request, metadata=metadata, timeout=self.timeout)
            except grpc.RpcError as exc:
                if exc.code() in _UNREACHABLE:
                    failures.append(f"{site.url_of(target)} ({exc.code().name}{self._tls_hint(target, exc, secure)})")
                    continue
                from idnode.resolver.grpc.status import handle_error_from_rpc

                error = handle_error_from_rpc(exc)
                if error is None:
                    failures.append(f"{site.url_of(target)} ({exc.code().name}: {exc.details()})")
                    continue
                if error.code == 100:
                    self.answers.put(key, error, self._clock() + self.negative_ttl)
                raise error from None
            self._peer_failures.pop(target, None)
            message = resolver_pb2.ResolveResponse.FromString(reply)
            ttl = _answer_ttl(message, self._wall())
            reply += NON_AUTHORITATIVE
            if check:
                verdict = await self._verdict(prefix, handle, message, indexes, types, hops)
                reply += _signature_bytes(verdict)
                if verdict.expires is not None:  # a cached "valid" must not outlive the signature
                    ttl = min(ttl, verdict.expires - self._wall())
            if ttl > 0:
                self.answers.put(key, reply, self._clock() + ttl)
            return reply
        self.sites.pop(prefix)  # ask the top node again next time: the node may have moved
        raise ServerNotResponsible(
            f"the node serving prefix {prefix} ({site.node_prefix}) is unreachable: tried {', '.join(failures)}"
        )

    def _tls_hint(self, target: str, exc: grpc.RpcError, secure: bool) -> str:
        """A TLS hint for an unreachable owner (logged once per target and hint); "" when it is not TLS."""
        from idnode.sync.tls import failure_hint

        details = exc.details() or ""  # type: ignore[attr-defined]  (an AioRpcError: not a grpc.Call)
        hint = failure_hint(details, self._peer(secure), "peer")
        if hint and not secure:  # --peer-* cannot help: the site is dialled in clear because it says so
            hint = " (the owning node may serve TLS while its site at the top-level node does not say so)"
        if hint and self._peer_failures.get(target) != hint:
            self._peer_failures[target] = hint
            logger.warning("recursion: owning node %s: %s %s%s", target, exc.code().name, details, hint)
        return hint

    async def _verdict(
        self,
        prefix: str,
        handle: str,
        message: resolver_pb2.ResolveResponse,
        indexes: tuple[int, ...],
        types: tuple[str, ...],
        hops: int,
    ) -> Any:
        """The owner's HS_SIGNATURE checked: a :class:`~idnode.registry.signing.Verdict`.

        Runs once per cache fill (the bytes are cached with the answer). A filtered answer
        without the signature takes it from the whole record (resolved and cached the same
        way); a key in another handle is resolved through this same recursion, one hop further.
        """
        from idnode.registry import signing
        from idnode.registry.values import Value

        name = message.handle or handle
        try:
            values = [Value.from_pb(v) for v in message.values]
        except HandleError as exc:
            return signing.Verdict(signing.Status.BAD_SIGNATURE, f"the owner sent an invalid value: {exc.message}")
        partial = bool(indexes or types)
        if partial and not any(v.type == signing.SIGNATURE_TYPE for v in values):
            # The signature comes from the whole record, itself checked and cached (often already there).
            with contextlib.suppress(HandleError):
                whole = await self.resolve_message(prefix, name, (), (), hops)
                values += [Value.from_pb(v) for v in whole.values if v.type == signing.SIGNATURE_TYPE]
        ref = signing.key_reference(values)
        key = None
        if ref is not None and not (ref.handle == name and any(v.index == ref.index for v in values)):
            key = await self._key(ref, hops)
        return signing.verify(name, values, key, now=self._wall(), partial=partial, trust=self.trust)

    async def _key(self, ref: Any, hops: int) -> Any:
        """The value at ``ref`` (an HS_PUBKEY, one hop further), or None when it cannot be resolved."""
        from idnode._fastpath import parse_handle
        from idnode.registry.values import Value

        try:
            prefix, suffix = parse_handle(ref.handle)
            reply = await self._resolve(prefix, f"{prefix}/{suffix}", (ref.index,), (), hops + 1, check=False)
        except (HandleError, ValueError):
            return None
        found = resolver_pb2.ResolveResponse.FromString(reply)
        return next((Value.from_pb(v) for v in found.values if v.index == ref.index), None)

    def peek(self, handle: str, indexes: tuple[int, ...] = (), types: tuple[str, ...] = ()) -> bytes | None:
        """A cached answer without any call (the DNS responder's synchronous path); None when not cached.

        Raises:
            HandleError: a cached negative answer (100).
        """
        if not self.recursion:
            return None
        cached = self.answers.get((handle, indexes, types), self._clock())
        if cached is not None:  # a miss is counted by the resolve() that follows
            self.stats["answer_hits"] += 1
        if isinstance(cached, HandleError):
            raise type(cached)(cached.message, handle=handle)
        return cached

    async def resolve_message(
        self, prefix: str, handle: str, indexes: tuple[int, ...] = (), types: tuple[str, ...] = (), hops: int = 0
    ) -> resolver_pb2.ResolveResponse:
        """:meth:`resolve` decoded (HTTP and DNS build their answers from it)."""
        return resolver_pb2.ResolveResponse.FromString(await self.resolve(prefix, handle, indexes, types, hops))


SIGNATURE_FAILED = frozenset(
    resolver_pb2.SignatureStatus.Value("SIGNATURE_STATUS_" + name)
    for name in ("CHANGED", "UNKNOWN_KEY", "BAD_SIGNATURE", "EXPIRED", "UNTRUSTED")
)
"""``ResolveResponse.signature`` values of a signed record that failed its check (DNS answers SERVFAIL)."""


def _signature_bytes(verdict: Any) -> bytes:
    """The verdict as ResolveResponse fields 6 and 7, appended to the owner's reply (last one wins)."""
    return resolver_pb2.ResolveResponse(
        signature=resolver_pb2.SignatureStatus.Value("SIGNATURE_STATUS_" + verdict.status.name),
        signature_message=verdict.message,
    ).SerializeToString()


AUTHORITATIVE_HEADER = "X-Idnode-Authoritative"
"""HTTP response header: ``false`` on answers resolved through recursion."""
SIGNATURE_HEADER = "X-Idnode-Signature"
"""HTTP response header on answers resolved through recursion: the signature check
(``unsigned``, ``valid``, ``changed``, ``unknown_key``, ``bad_signature``, ``expired``, ``untrusted``)."""


class Recursed(NamedTuple):
    """An owner's answer as HTTP shows it: normalised handle, values, and the signature check."""

    handle: str
    values: tuple[Any, ...]
    signature: str  # a signing.Status value ("valid", "changed", ...); "" when not checked
    signature_message: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """The HTTP headers of a recursive answer."""
        headers = {AUTHORITATIVE_HEADER: "false"}
        if self.signature:
            headers[SIGNATURE_HEADER] = self.signature
        return headers


async def recursive_record(
    registry: Any, handle: str, indexes: tuple[int, ...] = (), types: tuple[str, ...] = ()
) -> Recursed | None:
    """HTTP's way in: the owner's normalised handle and values (anonymous,
    filtered by the owner) and the signature check when ``handle`` lies under
    a prefix this node does not serve and the node has a recursor; None
    otherwise (answer locally).

    Raises:
        HandleError: as :meth:`Recursor.resolve` (and 102 for an invalid handle).
    """
    recursor = getattr(registry, "recursor", None)
    if recursor is None:
        return None
    from idnode._fastpath import parse_handle
    from idnode.registry.values import Value

    prefix, suffix = parse_handle(handle)
    if registry.serves(prefix):
        return None
    message = await recursor.resolve_message(prefix, prefix + "/" + suffix, indexes, types)
    status = resolver_pb2.SignatureStatus.Name(message.signature).removeprefix("SIGNATURE_STATUS_").lower()
    return Recursed(
        message.handle,
        tuple(Value.from_pb(v) for v in message.values),
        "" if status == "unspecified" else status,
        message.signature_message,
    )
