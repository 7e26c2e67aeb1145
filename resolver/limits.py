"""Per-client token-bucket rate limits (sans-IO: the caller passes the client key and the clock).

A :class:`RateLimiter` holds one bucket per client in a plain dict: ``burst``
tokens, refilled at ``rate`` per second; a request takes one token or is
refused with the seconds until one is back. Buckets live in the process
that answers (a prefork worker), so a limit applies per worker process; see
resolver/README.md ("Limits"). The dict is bounded: past ``max_clients``
entries, buckets that have refilled completely (idle clients) are dropped,
and if none has, the oldest half goes (a client dropped that way starts
again with a full bucket, which errs on the side of serving).

The client key is the authenticated principal when the request carries a
credential, else the peer address (:func:`peer_ip` for gRPC's peer text).
Resolves from the addresses of ``--rate-limit-resolve-exempt`` (trusted
recursive resolvers, peer nodes: :class:`Exemptions`) are never limited.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable

from idnode.registry.errors import ServerBusy

__all__ = [
    "DEFAULT_MAX_CLIENTS",
    "Exemptions",
    "RateLimited",
    "RateLimiter",
    "check",
    "client_key",
    "configure",
    "exempt",
    "exemptions",
    "limiter_of",
    "open_stream",
    "parse_rate",
    "peer_ip",
    "resolve_limiter",
    "write_limiter",
]

DEFAULT_MAX_CLIENTS = 65536


class RateLimited(ServerBusy):
    """too many requests from this client, retry later"""

    def __init__(self, message: str | None = None, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_rate(value: object) -> tuple[float, float]:
    """``(rate, burst)`` from ``"RATE"`` or ``"RATE/BURST"`` (requests per second; burst defaults
    to twice the rate, at least 1); ``0``, ``off`` or ``""`` turn the limit off: ``(0.0, 0.0)``.

    Also accepts a number or a ``(rate, burst)`` pair (TOML values, typed settings).

    Raises:
        ValueError: not a non-negative number, a burst below 1, or more than one ``/``.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected RATE or RATE/BURST, got {value!r}")
    if isinstance(value, (tuple, list)) and len(value) == 2:
        rate, burst = (_number(v, value) for v in value)
    elif isinstance(value, (int, float)):
        rate, burst = _number(value, value), None
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "off", "0"):
            return 0.0, 0.0
        rate_text, sep, burst_text = text.partition("/")
        rate = _number(rate_text, value)
        burst = _number(burst_text, value) if sep else None
    else:
        raise ValueError(f"expected RATE or RATE/BURST, got {type(value).__name__}")
    if rate == 0:
        return 0.0, 0.0
    if burst is None:
        burst = max(1.0, 2 * rate)
    if burst < 1:
        raise ValueError(f"{value!r}: the burst must be at least 1 request")
    return rate, burst


def _number(text: object, whole: object) -> float:
    try:
        number = float(text.strip() if isinstance(text, str) else text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{whole!r} is not RATE or RATE/BURST (examples: 1000, 1000/2000, off)") from None
    if not 0 <= number < float("inf"):
        raise ValueError(f"{whole!r}: rates are non-negative numbers")
    return number


def peer_ip(peer: str) -> str:
    """The address of a gRPC peer text: ``ipv4:1.2.3.4:5`` -> ``1.2.3.4``, ``ipv6:[::1]:5`` -> ``::1``;
    anything else (``unix:...``) is returned whole."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return peer


class RateLimiter:
    """Token buckets keyed by client; :meth:`check` is the whole hot path (one dict lookup, a few floats)."""

    __slots__ = ("_buckets", "burst", "max_clients", "rate")

    def __init__(self, rate: float, burst: float, max_clients: int = DEFAULT_MAX_CLIENTS) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a rate limit needs rate > 0 and burst >= 1, got {rate}/{burst}")
        if max_clients < 1:
            raise ValueError(f"max_clients must be at least 1, got {max_clients}")
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: dict[object, list[float]] = {}  # client -> [tokens, time of last refill]

    @property
    def clients(self) -> int:
        """How many clients have a bucket (no ``__len__``: an empty limiter must stay truthy)."""
        return len(self._buckets)

    def check(self, client: object, now: float) -> float:
        """Take one token for ``client`` at time ``now`` (seconds, monotonic).

        Returns:
            0.0 when allowed; otherwise the seconds until a token is back
            (the request is refused and takes nothing).
        """
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._evict(now)
            self._buckets[client] = [self.burst - 1.0, now]
            return 0.0
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _evict(self, now: float) -> None:
        rate, burst = self.rate, self.burst
        idle = [client for client, (tokens, last) in self._buckets.items() if tokens + (now - last) * rate >= burst]
        for client in idle:
            del self._buckets[client]
        if len(self._buckets) >= self.max_clients:  # nobody idle: drop the oldest half (insertion order)
            for client in list(self._buckets)[: max(1, len(self._buckets) // 2)]:
                del self._buckets[client]


class Exemptions:
    """Networks whose clients are not limited; ``address in exemptions`` for a peer address text.

    The answer per address is cached (a dict, cleared when it reaches ``max_cached`` addresses), so
    the DNS hot path pays one dict lookup per query, not an address parse.
    """

    __slots__ = ("_cache", "max_cached", "networks")

    def __init__(self, networks: Iterable[str], max_cached: int = 4096) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)
        self.max_cached = max_cached
        self._cache: dict[str, bool] = {}

    def __contains__(self, address: object) -> bool:
        found = self._cache.get(address)  # type: ignore[call-overload]
        if found is None:
            found = self._match(address)
            if len(self._cache) >= self.max_cached:
                self._cache.clear()
            self._cache[address] = found  # type: ignore[index]
        return found

    def _match(self, address: object) -> bool:
        try:
            ip = ipaddress.ip_address(str(address).partition("%")[0])  # fe80::1%eth0: the zone is not the address
        except ValueError:  # unix:... and the like
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 on a dual-stack socket is 10.0.0.1
        return any(ip in network for network in self.networks)


def limiter_of(rate_burst: tuple[float, float]) -> RateLimiter | None:
    """A limiter for a parsed ``(rate, burst)`` setting, or None when it is off."""
    rate, burst = rate_burst
    return RateLimiter(rate, burst) if rate > 0 else None


def client_key(authorization: str | None, address: str) -> str:
    """The client a request counts against: ``token:<token id>`` when it carries a bearer credential
    (``idn1.<token id>.<secret>``), else its peer address.

    The token id is read, not verified: a request with a forged id is refused by
    authentication right after, so it cannot spend another client's tokens for long.
    """
    if authorization:
        scheme, _, token = authorization.partition(" ")
        parts = token.strip().split(".", 2)
        if scheme.lower() == "bearer" and len(parts) == 3 and parts[1]:
            return "token:" + parts[1][:32]
    return address


# -- this process's limiters (set once at start by the node; None: no limit) --------------------------

_RESOLVE: RateLimiter | None = None
_WRITE: RateLimiter | None = None
_EXEMPT: Exemptions | None = None  # --rate-limit-resolve-exempt; None: nobody


_MAX_STREAMS = 0  # concurrent ResolveStream/Follow calls per client in this process; 0 = no cap
_STREAMS: dict[object, int] = {}  # client -> streams open (entries removed at 0: bounded by open streams)


def configure(
    resolve: tuple[float, float], write: tuple[float, float], max_streams: int = 0, exempt: Iterable[str] = ()
) -> None:
    """Set this process's resolve and write limiters from parsed settings (``(0, 0)``: off), its
    cap on concurrent streams per client (0: none) and the networks whose resolves are not limited."""
    global _RESOLVE, _WRITE, _MAX_STREAMS, _EXEMPT
    _RESOLVE = limiter_of(resolve)
    _WRITE = limiter_of(write)
    _MAX_STREAMS = max_streams
    networks = tuple(exempt)
    _EXEMPT = Exemptions(networks) if networks else None


def exempt(address: str) -> bool:
    """Whether resolves from ``address`` (a peer address text) skip ``--rate-limit-resolve``."""
    return _EXEMPT is not None and address in _EXEMPT


def exemptions() -> Exemptions | None:
    """This process's :class:`Exemptions` (None: nobody is exempt)."""
    return _EXEMPT


def _no_release() -> None:
    return None


def open_stream(client: object) -> Callable[[], None]:
    """Count a stream (``ResolveStream``, ``Follow``) of ``client`` as open; returns the function that
    closes it (call it exactly once, in a ``finally``).

    Raises:
        RateLimited (code 3): ``client`` already has ``--max-streams-per-client`` streams open here.
    """
    cap = _MAX_STREAMS
    if not cap:
        return _no_release
    held = _STREAMS.get(client, 0)
    if held >= cap:
        raise RateLimited(f"at most {cap} concurrent streams per client; this client has {held} open", 1.0)
    _STREAMS[client] = held + 1

    def release() -> None:
        left = _STREAMS.get(client, 1) - 1
        if left > 0:
            _STREAMS[client] = left
        else:
            _STREAMS.pop(client, None)

    return release


def resolve_limiter() -> RateLimiter | None:
    """This process's limiter for resolves (gRPC Resolver, HTTP GETs, DNS), or None when off."""
    return _RESOLVE


def write_limiter() -> RateLimiter | None:
    """This process's limiter for Registry calls and HTTP writes, or None when off."""
    return _WRITE


def check(limiter: RateLimiter, client: object, what: str = "requests") -> None:
    """Take a token for ``client``.

    Raises:
        RateLimited (code 3): the client is over the limit; ``retry_after`` says when to come back.
    """
    wait = limiter.check(client, time.monotonic())
    if wait:
        raise RateLimited(
            f"rate limit: more than {limiter.rate:g} {what}/s (burst {limiter.burst:g}) from this client;"
            f" retry in {wait:.2f} s",
            retry_after=wait,
        )
