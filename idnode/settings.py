"""The node's one typed settings object, parsed once from flags, environment and a TOML file.

Precedence, highest first: explicit overrides (command-line flags), the
environment (``IDNODE_<NAME>``, e.g. ``IDNODE_GRPC_LISTEN``), the TOML file
(``--config`` or ``IDNODE_CONFIG``; keys are the field names, dashes
accepted), then the defaults below. Every value is converted and validated
here, and every :class:`ConfigError` names the setting and where its value
came from, e.g. ``settings: grpc_listen from IDNODE_GRPC_LISTEN: ...``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_PREFIX",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "ConfigError",
    "Settings",
    "load_settings",
    "parse_duration",
    "parse_listen",
    "parse_size",
]

ENV_PREFIX = "IDNODE_"
CONFIG_ENV = "IDNODE_CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
MIN_MAP_SIZE = MIB

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": KIB,
    "kib": KIB,
    "kb": 1000,
    "m": MIB,
    "mib": MIB,
    "mb": 1000**2,
    "g": GIB,
    "gib": GIB,
    "gb": 1000**3,
    "t": 1024 * GIB,
    "tib": 1024 * GIB,
    "tb": 1000**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ConfigError(Exception):
    """invalid configuration"""


class _Invalid(ValueError):
    """A converter's complaint; :func:`_convert` adds the setting and source."""


# -- converters: each takes a raw value (text from flags/env, or a TOML value,
# -- or an already typed value) and returns the typed value or raises _Invalid.


def parse_listen(text: str) -> tuple[str, int]:
    """Split a listen address ``HOST:PORT`` or ``[V6]:PORT`` into ``(host, port)``.

    The host is returned without brackets (``"::1"`` for ``[::1]:50051``).
    Port 0 is allowed (the node then picks a free port).

    Raises:
        ValueError: not ``HOST:PORT``, an empty host, a bare IPv6 address
        without brackets, or a port outside 0..65535. The message says which.
    """
    if not isinstance(text, str):
        raise _Invalid(f"expected HOST:PORT text, got {type(text).__name__}")
    text = text.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise _Invalid(f"{text!r}: missing ']' after the IPv6 address")
        host, rest = text[1:close], text[close + 1 :]
        if not rest.startswith(":"):
            raise _Invalid(f"{text!r}: expected [IPV6]:PORT")
        port_text = rest[1:]
        if not host or ":" not in host:
            raise _Invalid(f"{text!r}: brackets are for IPv6 addresses only")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise _Invalid(f"{text!r}: expected HOST:PORT")
        if ":" in host:
            raise _Invalid(f"{text!r}: write IPv6 addresses in brackets, e.g. [::1]:50051")
        if not host:
            raise _Invalid(f"{text!r}: empty host (use 0.0.0.0 or [::] for every interface)")
    if any(ch.isspace() for ch in host):
        raise _Invalid(f"{text!r}: whitespace in the host")
    if not port_text.isdigit() or not port_text.isascii():
        raise _Invalid(f"{text!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if port > 65535:
        raise _Invalid(f"{text!r}: port {port} is out of range 0..65535")
    return host, port


def parse_size(value: object) -> int:
    """A byte count: an integer, or text such as ``"64MiB"``, ``"1GiB"``, ``"512M"``.

    ``K/M/G/T`` and ``KiB/MiB/GiB/TiB`` are powers of 1024; ``KB/MB/GB/TB``
    are powers of 1000. Case does not matter.

    Raises:
        ValueError: not a number with a known suffix.
    """
    if isinstance(value, bool):
        raise _Invalid(f"expected a size, got {value!r}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise _Invalid(f"expected a size such as 1GiB, got {type(value).__name__}")
    match = _SIZE_RE.match(value)
    unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise _Invalid(f"{value!r} is not a size (examples: 1073741824, 64MiB, 1GiB)")
    number = float(match.group(1)) if "." in match.group(1) else int(match.group(1))
    return int(number * unit)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected text, got {type(value).__name__} {value!r}")
    return value


def _listen(value: object) -> str:
    host, port = parse_listen(_text(value))
    # Keep the text canonical (brackets only around IPv6) for logs and banners.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen_or_off(value: object) -> str:
    text = _text(value)
    if text.strip().lower() == "off":
        return "off"
    return _listen(text)


def _zone(value: object) -> str:
    from idnode.resolver.dns.names import DnsNameError, labels_to_text, zone_labels

    try:
        return labels_to_text(zone_labels(_text(value).strip()))
    except DnsNameError as exc:
        raise _Invalid(str(exc)) from None


def _optional_name(value: object) -> str:
    text = _text(value).strip()
    return _zone(text) if text else ""


def _url(value: object) -> str:
    text = _text(value).strip()
    if text and not (text.startswith(("http://", "https://")) and len(text) > 8):
        raise _Invalid(f"expected an http:// or https:// URL, got {value!r}")
    return text


def _optional_target(value: object) -> str | None:
    if value is None:
        return None
    text = _text(value).strip()
    if not text:
        return None
    host, port = parse_listen(text)
    if port == 0:
        raise _Invalid(f"{text!r}: port 0 cannot be dialled")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    text = _text(value)
    if not text.strip():
        raise _Invalid("empty path")
    return Path(text).expanduser()


def _optional_path(value: object) -> Path | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _path(value)


def _prefix(value: object) -> str:
    from idnode._fastpath import parse_prefix
    from idnode.registry.errors import InvalidHandle

    try:
        return parse_prefix(_text(value).strip())
    except InvalidHandle as exc:
        raise _Invalid(exc.message) from None


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise _Invalid(f"expected one of 1/0/true/false/yes/no, got {value!r}")


def _int(value: object) -> int:
    if isinstance(value, bool):
        raise _Invalid(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Invalid(f"expected an integer, got {value!r}")


def _at_least(minimum: int, parse: Callable[[object], int] = _int, why: str = "") -> Callable[[object], int]:
    def convert(value: object) -> int:
        number = parse(value)
        if number < minimum:
            raise _Invalid(f"must be at least {minimum}{f' ({why})' if why else ''}, got {number}")
        return number

    return convert


def _map_size(value: object) -> int:
    size = parse_size(value)
    if size < MIN_MAP_SIZE:
        raise _Invalid(f"must be at least 1MiB ({MIN_MAP_SIZE} bytes), got {value!r}")
    return size


def _map_size_max(value: object) -> int:
    """``off`` or 0: no cap; else a size of at least 1MiB."""
    if str(value).strip().lower() in ("off", "0"):
        return 0
    return _map_size(value)


def _choice(choices: tuple[str, ...]) -> Callable[[object], str]:
    def convert(value: object) -> str:
        text = _text(value).strip().lower()
        if text not in choices:
            raise _Invalid(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return convert


def _seconds(value: object) -> float:
    if isinstance(value, bool):
        raise _Invalid(f"expected seconds, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _Invalid(f"expected seconds, got {value!r}") from None
    if not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise _Invalid(f"expected a non-negative number of seconds, got {value!r}")
    return float(value)


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: object) -> float:
    """Seconds from a number or text such as ``"90"``, ``"30s"``, ``"15m"``, ``"12h"``, ``"7d"``; ``off`` is 0.

    Raises:
        ValueError: anything else.
    """
    if isinstance(value, bool):
        raise _Invalid(f"expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        if not 0 <= value < float("inf"):
            raise _Invalid(f"expected a non-negative duration, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise _Invalid(f"expected a duration such as 7d, got {type(value).__name__}")
    if value.strip().lower() == "off":
        return 0.0
    match = _DURATION_RE.match(value.lower())
    if match is None:
        raise _Invalid(f"{value!r} is not a duration (examples: 3600, 90s, 15m, 12h, 7d, 2w, off)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _rate(value: object) -> tuple[float, float]:
    from idnode.resolver.limits import parse_rate

    try:
        return parse_rate(value)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


# The smallest message, body and URL limits accepted: a batch of 2000 items (registry.model.MAX_BATCH) of
# about 500 bytes each must fit one message or body, and a 255-character handle percent-encoded one URL.
MIN_MESSAGE_BYTES = MIB
MIN_URL_BYTES = 4 * KIB


def _ca_file(value: object) -> Path | None:
    """A PEM file of CA certificates, read and parsed here so a bad one stops the start; None: unset."""
    path = _optional_path(value)
    if path is None:
        return None
    from idnode.registry.errors import InvalidValue
    from idnode.registry.signing import TrustAnchors

    try:
        TrustAnchors.from_pem(path.read_bytes(), str(path))
    except OSError as exc:
        raise _Invalid(f"cannot read {path}: {exc.strerror or exc}") from None
    except InvalidValue as exc:
        raise _Invalid(exc.message) from None
    return path


def _networks(value: object) -> tuple[str, ...]:
    """``CIDR,CIDR,...`` text or a list (TOML) -> canonical network texts; a bare address is a /32 or /128."""
    import ipaddress

    if isinstance(value, str):
        items: list[object] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _Invalid(f"expected CIDR,CIDR,... (e.g. 10.0.0.0/8,::1), got {type(value).__name__}")
    networks = []
    for item in items:
        try:
            networks.append(str(ipaddress.ip_network(_text(item).strip(), strict=False)))
        except ValueError:
            raise _Invalid(
                f"{item!r} is not an address or network (examples: 10.0.0.53, 192.0.2.0/24, fd00::/8)"
            ) from None
    return tuple(networks)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "data_dir": _path,
    "grpc_listen": _listen,
    "http_listen": _listen_or_off,
    "tls_cert": _optional_path,
    "tls_key": _optional_path,
    "dns_listen": _listen_or_off,
    "dns_zone": _zone,
    "dns_nameserver": _optional_name,
    "dns_negative_ttl": _at_least(0),
    "public_url": _url,
    "node_prefix": _prefix,
    "demo": _bool,
    "workers": _at_least(1),
    "map_size": _map_size,
    "map_size_max": _map_size_max,
    "max_readers": _at_least(1),
    "log_level": _choice(LOG_LEVELS),
    "log_format": _choice(LOG_FORMATS),
    "top": _optional_target,
    "top_ca": _optional_path,
    "top_cert": _optional_path,
    "top_key": _optional_path,
    "recursion": _bool,
    "grace": _seconds,
    "metrics": _bool,
    "metrics_dir": _optional_path,
    "replica_of": _optional_target,
    "forward_writes": _bool,
    "primary_token_file": _optional_path,
    "primary_ca": _optional_path,
    "primary_cert": _optional_path,
    "primary_key": _optional_path,
    "peer_ca": _optional_path,
    "peer_cert": _optional_path,
    "peer_key": _optional_path,
    "replication_listen": _listen_or_off,
    "replication_client_ca": _optional_path,
    "log_retention": parse_duration,
    "max_replica_lag": _seconds,
    "stats_interval": _seconds,
    "rate_limit_resolve": _rate,
    "rate_limit_write": _rate,
    "max_streams_per_client": _at_least(0),
    "rate_limit_resolve_exempt": _networks,
    "max_message_bytes": _at_least(MIN_MESSAGE_BYTES, parse_size, "bytes: a batch of 2000 items must fit"),
    "max_body_bytes": _at_least(MIN_MESSAGE_BYTES, parse_size, "bytes: a batch of 2000 items must fit"),
    "max_url_bytes": _at_least(MIN_URL_BYTES, parse_size, "bytes: a 255-character handle, percent-encoded, must fit"),
    "request_timeout": parse_duration,  # seconds, 30s, 2m; off/0 = none
    "stream_idle_timeout": parse_duration,
    "signer_ca": _ca_file,
}


def _convert(name: str, value: object, source: str) -> Any:
    try:
        return _CONVERTERS[name](value)
    except _Invalid as exc:
        raise ConfigError(f"settings: {name} from {source}: {exc}") from None


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of a node. Validated when built; immutable.

    Build it with :func:`load_settings` (which also names each value's
    source in errors) or directly, e.g. in tests:
    ``Settings(data_dir=tmp_path, grpc_listen="127.0.0.1:0")``. Listen
    addresses are kept as canonical ``HOST:PORT`` text; split them with
    :func:`parse_listen`.
    """

    data_dir: Path = Path("idnode-data")
    grpc_listen: str = "127.0.0.1:50051"
    http_listen: str = "127.0.0.1:8000"  # Handle REST, enterprise API, resolver pages; "off" disables HTTP
    tls_cert: Path | None = None  # PEM certificate chain: HTTP serves TLS when set
    tls_key: Path | None = None  # PEM private key (None: inside tls_cert)
    dns_listen: str = "127.0.0.1:8053"  # UDP and TCP; "off" disables the DNS front end
    dns_zone: str = "id.local."  # the apex every identifier's DNS name lies under
    dns_nameserver: str = ""  # the NS name at the apex; "" = ns.<dns_zone>
    dns_negative_ttl: int = 60  # SOA minimum: how long resolvers keep NXDOMAIN/NODATA
    public_url: str = ""  # base of handle resolution URLs (DNS GTIN/OID answers); "" = http://<http_listen>/
    node_prefix: str = "88.118"
    demo: bool = False
    workers: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)  # reader worker processes
    map_size: int = GIB  # initial LMDB map size; the store grows it by itself
    map_size_max: int = 0  # the map never grows past this (0 = no cap); writes then fail with StorageFull
    max_readers: int = 2048
    log_level: str = "info"
    log_format: str = "text"
    top: str | None = None  # upstream top-level node HOST:PORT; None = stand-alone
    top_ca: Path | None = None  # PEM trust roots for TLS to the top node (any of the three turns TLS on)
    top_cert: Path | None = None  # PEM client certificate for mutual TLS to the top node
    top_key: Path | None = None  # PEM key of top_cert (None: inside top_cert)
    recursion: bool = True  # with top: resolve prefixes not served here via the top node; False = 303 referral
    grace: float = 10.0  # seconds to finish in-flight work on SIGTERM
    metrics: bool = True  # Prometheus metrics (GET /metrics); False: nothing counted (the benchmark's baseline)
    metrics_dir: Path | None = None  # prometheus-client's multiprocess files (None: in /dev/shm, idnode/metrics.py)
    replica_of: str | None = None  # a read replica of this primary HOST:PORT (sync/README.md); None = primary
    forward_writes: bool = False  # a replica forwards gRPC Registry writes to its primary instead of refusing them
    primary_token_file: Path | None = None  # primary's admin/auditor credential; None = <data-dir>/primary.credential
    primary_ca: Path | None = None  # PEM trust roots for TLS to the primary (any of the three turns TLS on)
    primary_cert: Path | None = None  # PEM client certificate for mutual TLS to the primary
    primary_key: Path | None = None  # PEM key of primary_cert (None: inside primary_cert)
    peer_ca: Path | None = None  # PEM trust roots for owning nodes whose site says TLS (None: the system roots)
    peer_cert: Path | None = None  # PEM client certificate for owning nodes that require one
    peer_key: Path | None = None  # PEM key of peer_cert (None: inside peer_cert)
    replication_listen: str = "off"  # a primary's mutual-TLS port for replicas (needs tls_cert, replication_client_ca)
    replication_client_ca: Path | None = None  # PEM roots replicas' client certificates must chain to
    log_retention: float = 7 * 86400.0  # seconds of change log kept (0 = everything); never past the outbox cursor
    max_replica_lag: float = 30.0  # seconds: a replica lagging more is not ready (/readyz, gRPC health)
    stats_interval: float = 300.0  # with top: seconds between daily statistics reports (and at midnight)
    # Per client and per process (each prefork worker): (requests/s, burst); "off"/0 = no limit (resolver/README.md).
    rate_limit_resolve: tuple[float, float] = (1000.0, 2000.0)
    rate_limit_write: tuple[float, float] = (100.0, 200.0)
    max_streams_per_client: int = 16  # concurrent ResolveStream/Follow calls per client and process; 0 = no cap
    rate_limit_resolve_exempt: tuple[str, ...] = ()  # networks whose resolves are never limited (trusted resolvers)
    max_message_bytes: int = 64 * MIB  # largest gRPC message received or sent
    max_body_bytes: int = 8 * MIB  # largest HTTP request body (413 beyond)
    max_url_bytes: int = 8 * KIB  # longest HTTP request target (414 beyond)
    request_timeout: float = 30.0  # deadline of a gRPC unary call or HTTP request (head, body, handler); 0 = none
    stream_idle_timeout: float = 300.0  # longest wait for a client's next ResolveStream message; 0 = none
    signer_ca: Path | None = None  # with top: PEM CAs a signer's HS_CERT must chain to in recursion; None = any

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = _convert(field.name, getattr(self, field.name), "Settings()")
            object.__setattr__(self, field.name, value)

    @property
    def admin_credential_path(self) -> Path:
        """Where first start writes the node-admin credential (mode 0600)."""
        return self.data_dir / "admin.credential"

    @property
    def grpc_address(self) -> tuple[str, int]:
        """``grpc_listen`` split into ``(host, port)``."""
        return parse_listen(self.grpc_listen)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings))


def _read_file(path: Path) -> dict[str, object]:
    where = f"settings: config file {path}"
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{where}: not found") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    values: dict[str, object] = {}
    for key, value in document.items():
        name = key.replace("-", "_")
        if name not in FIELD_NAMES:
            raise ConfigError(f"{where}: unknown key {key!r} (known keys: {', '.join(FIELD_NAMES)})")
        if name in values:
            raise ConfigError(f"{where}: key {key!r} given twice (with dashes and underscores)")
        values[name] = value
    return values


def load_settings(
    overrides: Mapping[str, object] | None = None,
    env: Mapping[str, str] = os.environ,
    config_path: str | Path | None = None,
) -> Settings:
    """Build the node's settings: overrides > ``IDNODE_*`` environment > TOML file > defaults.

    Args:
        overrides: values from command-line flags, keyed by field name
            (dashes allowed); ``None`` values are ignored (flag not given).
        env: the environment; empty variables count as unset.
        config_path: the TOML file; ``None`` uses ``IDNODE_CONFIG`` if set,
            else no file.

    Raises:
        ConfigError: an unknown key, a missing or malformed file, or any
        invalid value; the message names the setting and its source.
    """
    chosen: dict[str, object] = {}
    if config_path is None:
        config_path = env.get(CONFIG_ENV) or None
    if config_path is not None:
        path = Path(config_path).expanduser()
        for name, value in _read_file(path).items():
            chosen[name] = _convert(name, value, str(path))
    for name in FIELD_NAMES:
        var = ENV_PREFIX + name.upper()
        raw = env.get(var)
        if raw is not None and raw != "":
            chosen[name] = _convert(name, raw, var)
    for key, value in (overrides or {}).items():
        name = key.replace("-", "_")
        if name not in FIELD_NAMES:
            raise ConfigError(f"settings: unknown setting {key!r}")
        if value is not None:
            chosen[name] = _convert(name, value, "--" + name.replace("_", "-"))
    return Settings(**chosen)  # type: ignore[arg-type]
