"""The ``idnode`` command line: run a node (``serve``) and administer one over gRPC.

Successful commands print JSON or plain lines on stdout. Failures print
``error: <code> <message>`` on stderr (the Handle response code) and exit 1;
usage and configuration errors exit 2. Client commands take ``--node``,
``--token``, ``--token-file`` and ``--data-dir`` (also ``IDNODE_NODE``,
``IDNODE_TOKEN``, ``IDNODE_TOKEN_FILE``, ``IDNODE_DATA_DIR``); without a token
they use ``<data-dir>/admin.credential`` when it is readable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click

from idnode import __version__
from idnode.client import DEFAULT_TARGET, ClientError, call, call_stream, connect, resolve_token

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
MAX_REJECTS_SHOWN = 20


# -- output helpers ---------------------------------------------------------------


def _dump(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False))


def _fail(code: int, message: str) -> None:
    click.echo(f"error: {code} {message}", err=True)
    sys.exit(1)


def _enum_name(enum: Any, number: int, prefix: str) -> str:
    try:
        name = enum.Name(number)
    except ValueError:
        return str(number)
    return name.removeprefix(prefix).lower()


def _enterprise_json(msg: Any) -> dict[str, Any]:
    from idnode.proto import registry_pb2

    return {
        "credit_code": msg.credit_code,
        "name": msg.name,
        "contact": msg.contact,
        "status": _enum_name(registry_pb2.EnterpriseStatus, msg.status, "ENTERPRISE_STATUS_"),
        "prefixes": list(msg.prefixes),
        "created": msg.created,
    }


def _prefix_json(msg: Any) -> dict[str, Any]:
    from idnode.proto import registry_pb2

    return {
        "prefix": msg.prefix,
        "owner": msg.owner,
        "status": _enum_name(registry_pb2.PrefixStatus, msg.status, "PREFIX_STATUS_"),
        "created": msg.created,
        "identifiers": msg.identifiers,
    }


def _write_result(result: Any) -> None:
    """Print a WriteResult; exit 1 when it is not a success."""
    _dump(
        {
            "handle": result.handle,
            "response_code": result.response_code,
            "message": result.message,
            "created": result.created,
            "sequence": result.sequence,
        }
    )
    if result.response_code != 1:
        _fail(result.response_code, result.message or "write failed")


def template_from_json(obj: Any) -> Any:
    """A ``registry_pb2.Template`` from the enterprise API's JSON shape
    (``registry.templates.template_from_json``).

    Raises:
        ValueError: a missing or mistyped key, named.
    """
    from idnode.registry import templates
    from idnode.registry.errors import HandleError
    from idnode.resolver.grpc.registry_service import template_to_pb

    try:
        return template_to_pb(templates.template_from_json(obj))
    except HandleError as exc:
        raise ValueError(exc.message) from None


def template_to_json(msg: Any) -> dict[str, Any]:
    """The enterprise API's JSON shape of a ``registry_pb2.Template`` (inverse of :func:`template_from_json`)."""
    from idnode.registry import templates
    from idnode.resolver.grpc.registry_service import template_from_pb

    return templates.template_to_json(template_from_pb(msg))


# -- connection -------------------------------------------------------------------


@dataclasses.dataclass
class Node:
    """A node to talk to: address, credential and a lazily opened channel."""

    target: str
    token: str | None
    _channel: Any = None
    ca: str | None = None  # PEM trust roots: TLS to a node serving --tls-cert

    def channel(self) -> Any:
        if self._channel is None:
            try:
                self._channel = connect(self.target, ca=self.ca)
            except OSError as exc:
                raise click.UsageError(str(exc)) from None
        return self._channel

    def registry(self) -> Any:
        from idnode.proto import registry_pb2_grpc

        return registry_pb2_grpc.RegistryStub(self.channel())

    def resolver(self) -> Any:
        from idnode.proto import resolver_pb2_grpc

        return resolver_pb2_grpc.ResolverStub(self.channel())

    def call(self, method: Callable[..., Any], request: Any, timeout: float | None = 30) -> Any:
        return call(method, request, self.token, timeout, target=self.target)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None


def data_dir_option(help: str) -> Callable[[Any], Any]:
    """``--data-dir DIR`` (env ``IDNODE_DATA_DIR``, default ``idnode-data``) of commands that open a folder."""
    return click.option(
        "--data-dir",
        envvar="IDNODE_DATA_DIR",
        default="idnode-data",
        show_default=True,
        metavar="DIR",
        type=click.Path(file_okay=False),
        help=help,
    )


def link_tls_options(link: str, other: str, roots: str) -> Callable[[Any], Any]:
    """``--<link>-ca``, ``--<link>-cert``, ``--<link>-key`` of a node-to-node TLS link (``sync/tls.py``)."""
    options = (
        click.option(f"--{link}-ca", metavar="FILE", help=f"PEM trust roots: TLS to {other} [default: {roots}]."),
        click.option(f"--{link}-cert", metavar="FILE", help=f"PEM client certificate for mutual TLS to {other}."),
        click.option(
            f"--{link}-key", metavar="FILE", help=f"PEM key of --{link}-cert [default: in the certificate file]."
        ),
    )

    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


_CLIENT_OPTIONS = (
    click.option(
        "--node",
        "node_target",
        envvar="IDNODE_NODE",
        default=DEFAULT_TARGET,
        show_default=True,
        metavar="HOST:PORT",
        help="gRPC address of the node [env IDNODE_NODE].",
    ),
    click.option("--token", envvar="IDNODE_TOKEN", metavar="TOKEN", help="Bearer credential [env IDNODE_TOKEN]."),
    click.option(
        "--token-file",
        envvar="IDNODE_TOKEN_FILE",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="Read the credential from FILE [env IDNODE_TOKEN_FILE].",
    ),
    data_dir_option("Node data folder; its admin.credential is used when no token is given [env IDNODE_DATA_DIR]."),
    click.option(
        "--ca",
        envvar="IDNODE_CA",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="PEM trust roots: TLS to a node serving --tls-cert [env IDNODE_CA; default: plaintext].",
    ),
)


def anonymous_by_default(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a command that resolves: it sends no credential unless one is given."""
    func.anonymous_by_default = True  # type: ignore[attr-defined]
    return func


def client_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options; pass ``node``; turn ClientError into ``error: CODE MESSAGE``, exit 1."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        node_target: str,
        token: str | None,
        token_file: str | None,
        data_dir: str,
        ca: str | None,
        **kwargs: Any,
    ) -> Any:
        # Resolution is anonymous unless a credential is given explicitly;
        # administrative commands fall back to the local admin credential.
        fallback = None if getattr(func, "anonymous_by_default", False) else data_dir
        try:
            credential = resolve_token(token, token_file, fallback)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        node = Node(node_target, credential, ca=ca)
        try:
            return func(*args, node=node, **kwargs)
        except ClientError as exc:
            _fail(exc.code, exc.message)
        finally:
            node.close()

    for option in reversed(_CLIENT_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def _values(specs: tuple[str, ...], values_json: IO[str] | None) -> list[Any]:
    """HandleValue messages from ``--value INDEX:TYPE:DATA`` and ``--values-json``."""
    from idnode.importer import value_from_text
    from idnode.registry.errors import HandleError
    from idnode.registry.values import Value

    values = []
    for spec in specs:
        parts = spec.split(":", 2)
        if len(parts) != 3:
            raise click.BadParameter(f"{spec!r}: expected INDEX:TYPE:DATA", param_hint="--value")
        try:
            values.append(value_from_text(parts[0], parts[1], parts[2]))
        except HandleError as exc:
            raise click.BadParameter(exc.message, param_hint="--value") from None
    if values_json is not None:
        try:
            document = json.load(values_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--values-json") from None
        if isinstance(document, dict) and "values" in document:
            document = document["values"]
        if not isinstance(document, list):
            raise click.BadParameter(
                'expected a JSON list of values (or {"values": [...]})', param_hint="--values-json"
            )
        for position, raw in enumerate(document):
            try:
                values.append(Value.from_json(raw))
            except HandleError as exc:
                raise click.BadParameter(f"values[{position}]: {exc.message}", param_hint="--values-json") from None
    return [value.to_pb() for value in values]


_VALUE_HELP = "A string value INDEX:TYPE:DATA, e.g. 1:URL:https://example.com (repeatable)."
_VALUES_JSON_HELP = "A JSON file (or - for stdin) holding a list of Handle REST values."


# -- the group --------------------------------------------------------------------


@click.group(name="idnode", context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="idnode", message="%(prog)s %(version)s")
def main() -> None:
    """idnode: a secondary node of the industrial-internet identifier resolution system.

    `idnode serve` runs a node; the other commands administer a running node
    over gRPC.
    """


@main.command(context_settings=CONTEXT)
@click.option(
    "--config", metavar="FILE", type=click.Path(dir_okay=False), help="TOML settings file [env IDNODE_CONFIG]."
)
@click.option("--data-dir", metavar="DIR", help="Data folder [default: ./idnode-data].")
@click.option("--grpc-listen", metavar="HOST:PORT", help="gRPC address [default: 127.0.0.1:50051].")
@click.option("--http-listen", metavar="HOST:PORT", help="HTTP address; off disables HTTP [default: 127.0.0.1:8000].")
@click.option("--tls-cert", metavar="FILE", help="PEM certificate chain: HTTP serves HTTPS [default: none].")
@click.option("--tls-key", metavar="FILE", help="PEM private key of --tls-cert [default: in the certificate file].")
@click.option(
    "--dns-listen", metavar="HOST:PORT", help="DNS address, UDP and TCP; off disables DNS [default: 127.0.0.1:8053]."
)
@click.option("--dns-zone", metavar="ZONE", help="DNS zone apex of identifier names [default: id.local.].")
@click.option("--dns-nameserver", metavar="NAME", help="NS name at the zone apex [default: ns.<zone>].")
@click.option("--dns-negative-ttl", type=int, metavar="SECONDS", help="NXDOMAIN/NODATA TTL [default: 60].")
@click.option("--public-url", metavar="URL", help="Base of handle resolution URLs [default: http://<http-listen>/].")
@click.option("--node-prefix", metavar="PREFIX", help="The prefix this node serves [default: 88.118].")
@click.option("--demo/--no-demo", default=None, help="Load demo data on first start.")
@click.option(
    "--workers",
    type=int,
    metavar="N",
    help="Reader worker processes; 1 runs everything in one process [default: the number of cores].",
)
@click.option("--map-size", metavar="SIZE", help="Initial LMDB map size, e.g. 1GiB (grows by itself).")
@click.option("--map-size-max", metavar="SIZE", help="The LMDB map never grows past SIZE [default: off, no cap].")
@click.option("--max-readers", type=int, metavar="N", help="LMDB reader slots [default: 2048].")
@click.option("--log-level", metavar="LEVEL", help="debug, info, warning or error [default: info].")
@click.option("--log-format", metavar="FORMAT", help="text or json [default: text].")
@click.option("--top", metavar="HOST:PORT", help="Upstream top-level node [default: stand-alone].")
@link_tls_options("top", "the top-level node", "plain")
@click.option(
    "--recursion/--no-recursion",
    default=None,
    help="With --top: resolve prefixes not served here through the top-level node; "
    "--no-recursion answers a 303 referral carrying the site [default: on].",
)
@click.option("--grace", type=float, metavar="SECONDS", help="Drain time on SIGTERM [default: 10].")
@click.option(
    "--metrics/--no-metrics", default=None, help="Count requests and serve GET /metrics on the HTTP port [default: on]."
)
@click.option(
    "--metrics-dir",
    metavar="DIR",
    help="Folder of the metrics' multiprocess files, emptied at start; never on the data disk "
    "[default: /dev/shm/idnode-metrics-<id of the data folder>].",
)
@click.option("--replica-of", metavar="HOST:PORT", help="Run as a read replica of this primary [default: a primary].")
@click.option(
    "--forward-writes/--no-forward-writes",
    default=None,
    help="A replica forwards gRPC Registry writes to its primary instead of refusing them [default: refuse].",
)
@click.option(
    "--primary-token-file",
    metavar="FILE",
    help="A replica's node-admin or auditor credential of the primary [default: <data-dir>/primary.credential].",
)
@link_tls_options("primary", "a replica's primary", "plain")
@click.option("--replication-listen", metavar="HOST:PORT", help="Mutual-TLS port for replicas [default: off].")
@click.option("--replication-client-ca", metavar="FILE", help="PEM roots of the replicas' client certificates.")
@link_tls_options("peer", "owning nodes whose site says TLS", "the system roots")
@click.option(
    "--log-retention", metavar="DURATION", help="Change log kept, e.g. 7d, 12h, 3600; off keeps all [default: 7d]."
)
@click.option(
    "--max-replica-lag", type=float, metavar="SECONDS", help="A replica lagging more is not ready [default: 30]."
)
@click.option(
    "--stats-interval",
    type=float,
    metavar="SECONDS",
    help="With --top: how often the day's statistics are reported to the top-level node [default: 300].",
)
@click.option(
    "--rate-limit-resolve",
    metavar="RATE[/BURST]",
    help="Resolves per second per client and worker (gRPC, HTTP, DNS); off = none [default: 1000/2000].",
)
@click.option(
    "--rate-limit-write",
    metavar="RATE[/BURST]",
    help="Registry calls and HTTP writes per second per client and worker; off = none [default: 100/200].",
)
@click.option(
    "--max-streams-per-client",
    type=int,
    metavar="N",
    help="Concurrent ResolveStream/Follow calls per client and worker; 0 = no cap [default: 16].",
)
@click.option(
    "--rate-limit-resolve-exempt",
    metavar="CIDR,...",
    help="Addresses or networks whose resolves are never limited (trusted resolvers, peer nodes) [default: none].",
)
@click.option(
    "--max-message-bytes",
    metavar="SIZE",
    help="Largest gRPC message received or sent (at least 1MiB) [default: 64MiB].",
)
@click.option("--max-body-bytes", metavar="SIZE", help="Largest HTTP request body; 413 beyond [default: 8MiB].")
@click.option("--max-url-bytes", metavar="SIZE", help="Longest HTTP request target; 414 beyond [default: 8KiB].")
@click.option(
    "--request-timeout",
    metavar="DURATION",
    help="Server deadline of a gRPC call or an HTTP request (head, body, handler); off = none [default: 30s].",
)
@click.option(
    "--stream-idle-timeout",
    metavar="DURATION",
    help="Longest wait for a client's next ResolveStream message; off = none [default: 300s].",
)
@click.option(
    "--signer-ca",
    metavar="FILE",
    help="With --top: PEM CAs that signers' HS_CERT certificates must chain to in recursive resolution "
    "(a bare HS_PUBKEY is then untrusted) [default: none, any valid certificate].",
)
def serve(config: str | None, **flags: Any) -> None:
    """Run a node.

    Every flag is also an environment variable IDNODE_<NAME> (e.g.
    IDNODE_GRPC_LISTEN) and a key in the TOML file (grpc_listen). Flags win
    over the environment, which wins over the file.
    """
    from idnode.settings import ConfigError, load_settings

    try:
        settings = load_settings(flags, config_path=config)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    from idnode.node import run

    sys.exit(run(settings))


@main.command(context_settings=CONTEXT)
@data_dir_option("Data folder to migrate [env IDNODE_DATA_DIR].")
def migrate(data_dir: str) -> None:
    """Bring a stopped node's data folder to this version's schema.

    `idnode serve` applies the same migrations at start-up; this command does
    it ahead of time (for example before a rolling upgrade). It fails while a
    node uses the folder.
    """
    from idnode.registry.errors import StoreError
    from idnode.registry.store import SCHEMA_VERSION, Store

    if not (Path(data_dir) / "lmdb").exists():
        click.echo(f"error: {data_dir} holds no idnode data", err=True)
        sys.exit(2)
    try:
        store = Store(data_dir, map_size=1 << 20)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    try:
        click.echo(f"{data_dir}: schema version {store.schema_version} (this idnode: {SCHEMA_VERSION})")
    finally:
        store.close()


@main.command("restore-from-top", context_settings=CONTEXT)
@click.option("--top", envvar="IDNODE_TOP", required=True, metavar="HOST:PORT", help="The top-level node.")
@data_dir_option("Data folder to rebuild: new or wiped; the node must be stopped.")
@click.option("--node-prefix", required=True, metavar="P", help="The node's prefix, e.g. 88.118.")
@click.option(
    "--token-file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="The node's top.credential (a saved copy) or the top node's admin credential.",
)
@click.option("--token", envvar="IDNODE_TOP_TOKEN", metavar="TOKEN", help="The credential itself.")
@click.option("--top-ca", envvar="IDNODE_TOP_CA", metavar="FILE", help="PEM trust roots: TLS to the top-level node.")
@click.option("--top-cert", envvar="IDNODE_TOP_CERT", metavar="FILE", help="PEM client certificate (mutual TLS).")
@click.option("--top-key", envvar="IDNODE_TOP_KEY", metavar="FILE", help="PEM key of --top-cert.")
def restore_from_top(
    top: str,
    data_dir: str,
    node_prefix: str,
    token_file: str | None,
    token: str | None,
    top_ca: str | None,
    top_cert: str | None,
    top_key: str | None,
) -> None:
    """Rebuild a stopped node's identifiers (and everything its change log
    carries) from the top-level node's disaster-recovery copy.

    Streams FetchChanges from sequence 1, checks the digest chain and replays
    every entry into the empty folder under its own sequence; prints the
    counts and the identifiers checksum (compare with `idnode checksum` of
    the original). The folder keeps the node's credential if --token-file
    names a copy of it.
    """
    import grpc

    from idnode._fastpath import parse_prefix
    from idnode.registry.changelog import ChangeLogError
    from idnode.registry.errors import StoreError
    from idnode.sync.outbox import CREDENTIAL_FILE
    from idnode.sync.restore import restore_from_top as restore
    from idnode.sync.tls import TopTls, failure_hint

    try:
        tls = TopTls.load(top_ca, top_cert, top_key)
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if token is None:
        path = Path(token_file) if token_file else Path(data_dir) / CREDENTIAL_FILE
        try:
            token = path.read_text().strip()
        except OSError as exc:
            click.echo(f"error: cannot read the credential {path}: {exc.strerror}", err=True)
            sys.exit(2)
    try:
        result = restore(top, Path(data_dir), parse_prefix(node_prefix), token, tls=tls)
    except grpc.RpcError as exc:
        click.echo(
            f"error: top-level node {top}: {exc.code().name} {exc.details()}{failure_hint(exc.details(), tls)}",
            err=True,
        )
        sys.exit(1)
    except (StoreError, ChangeLogError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if token_file and not (Path(data_dir) / CREDENTIAL_FILE).exists():
        import os

        fd = os.open(Path(data_dir) / CREDENTIAL_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
    click.echo(
        f"restored {result.changes} changes (last sequence {result.last_sequence}): "
        f"{result.identifiers} identifiers ({result.live} live, {result.deleted} deleted)"
    )
    click.echo(f"checksum {result.digest}")


@main.command(context_settings=CONTEXT)
@data_dir_option("Data folder [env IDNODE_DATA_DIR].")
def checksum(data_dir: str) -> None:
    """Print the SHA-256 over every identifier key and record, in key order
    (tombstones included): two folders with the same checksum hold the same
    identifiers byte for byte. Then one line per prefix (DIGEST  COUNT
    PREFIX; 0.na holds the prefix handles), so two nodes (a primary and its
    replica) can be compared prefix by prefix. Read-only, one read
    transaction; works while the node runs."""
    from idnode.registry.errors import StoreError
    from idnode.registry.store import Store

    if not (Path(data_dir) / "lmdb").exists():
        click.echo(f"error: {data_dir} holds no idnode data", err=True)
        sys.exit(2)
    try:
        store = Store(data_dir, map_size=1 << 20, lock=False, writable=False)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    try:
        (count, digest), per_prefix = store.prefix_digests()
    finally:
        store.close()
    click.echo(f"{digest}  {count} identifiers")
    for prefix, (n, prefix_digest) in per_prefix.items():
        click.echo(f"{prefix_digest}  {n}  {prefix}")


def _backup_call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a backup or restore; its refusal or failure as ``error: ...`` and exit 1."""
    from idnode.backup import BackupError

    try:
        return func(*args, **kwargs)
    except (BackupError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.command(context_settings=CONTEXT)
@click.argument("dest", type=click.Path(file_okay=False))
@data_dir_option("Data folder to back up; the node may be running [env IDNODE_DATA_DIR].")
def backup(dest: str, data_dir: str) -> None:
    """Write a consistent copy of the data folder to the new folder DEST while
    the node serves: LMDB compacted from one read snapshot, the credential
    files, and manifest.json (change-log head, identifiers checksum as `idnode
    checksum` prints it, SHA-256 of every file). DEST holds secrets (0700)."""
    from idnode.backup import backup as make_backup

    manifest = _backup_call(make_backup, Path(data_dir), Path(dest))
    click.echo(
        f"backup {dest}: {manifest.identifiers} identifiers, change log at sequence {manifest.last_sequence}, "
        f"{manifest.files['lmdb/data.mdb']['size']} bytes of LMDB"
    )
    click.echo(f"checksum {manifest.checksum}")


@main.command(context_settings=CONTEXT)
@click.argument("src", type=click.Path(file_okay=False, exists=True))
@data_dir_option("Data folder to replace; the node must be stopped [env IDNODE_DATA_DIR].")
@click.option("--force", is_flag=True, help="Replace a data folder that is not empty.")
def restore(src: str, data_dir: str, force: bool) -> None:
    """Replace the data folder with the backup SRC (from `idnode backup`).

    Refuses a folder a running node holds, and a non-empty one without
    --force. Checks every file against the manifest, the change-log chain
    and the identifiers checksum before anything is replaced; the folder is
    then swapped atomically (the old one or the new one, never a mix)."""
    from idnode.backup import restore as restore_backup

    manifest = _backup_call(restore_backup, Path(src), Path(data_dir), force=force)
    click.echo(
        f"restored {data_dir} from {src} (taken {manifest.created}): {manifest.identifiers} identifiers, "
        f"change log at sequence {manifest.last_sequence}, chain and checksum verified"
    )
    click.echo(f"checksum {manifest.checksum}")


@main.command(context_settings=CONTEXT)
def version() -> None:
    """Print versions and the fast-path implementation."""
    from idnode._fastpath import IMPLEMENTATION

    click.echo(f"idnode {__version__}")
    click.echo(f"Python {platform.python_version()}")
    click.echo(f"fast path: {IMPLEMENTATION}")


# -- DNS names --------------------------------------------------------------------


@main.command(context_settings=CONTEXT)
@click.argument("value")
@click.option("--reverse", is_flag=True, help="VALUE is a DNS name: print what it stands for.")
@click.option("--handle", "kind", flag_value="handle", default=True, help="An identifier and its name [default].")
@click.option("--gtin", "kind", flag_value="gtin", help="A GTIN-8/12/13/14 and its name under gtin.ZONE.")
@click.option("--oid", "kind", flag_value="oid", help="An OID and its name under oid.ZONE.")
@click.option("--zone", default="id.local.", show_default=True, metavar="ZONE", help="The node's DNS zone apex.")
def dnsname(value: str, reverse: bool, kind: str, zone: str) -> None:
    """Print the DNS name of an identifier (or GTIN, OID), or with --reverse what a name stands for.

    \b
    idnode dnsname 88.118.8/DEMO-000001
    idnode dnsname --reverse 8h2kqjpd60o30c1g64._h.8.118.88.id.local.
    idnode dnsname --gtin 00614141322602
    idnode dnsname --oid 2.16.156.101818.102.1

    A value that cannot be mapped prints `error: <message>` and exits 1: an
    invalid handle (`error: 102 invalid handle ...`), one too long for a DNS
    name, a name outside the zone or one that stands for something else.
    """
    from idnode.registry.errors import InvalidHandle
    from idnode.resolver.dns import names

    forward = {"handle": names.handle_to_name, "gtin": names.gtin_to_name, "oid": names.oid_to_name}
    backward = {"handle": names.name_to_handle, "gtin": names.name_to_gtin, "oid": names.name_to_oid}
    try:
        click.echo((backward if reverse else forward)[kind](value, zone))
    except InvalidHandle as exc:
        _fail(exc.code, exc.message)
    except names.DnsNameError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


# -- identifiers ------------------------------------------------------------------


@main.group("id", context_settings=CONTEXT)
def id_group() -> None:
    """Resolve, register, update and delete identifiers."""


@id_group.command("get", context_settings=CONTEXT)
@click.argument("handle")
@click.option(
    "--index",
    "indexes",
    type=click.IntRange(1),
    multiple=True,
    metavar="N",
    help="Only the value at this index (repeatable).",
)
@click.option(
    "--type",
    "types",
    multiple=True,
    metavar="T",
    help="Only values of this type; 'A.' matches A.x subtypes (repeatable).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Check the HS_SIGNATURE (key from the record or its key handle); exit 1 unless it is valid.",
)
@click.option(
    "--trust-ca",
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE",
    help="With --verify: PEM CA certificates the signer's HS_CERT must chain to (a bare HS_PUBKEY is then untrusted).",
)
@client_command
@anonymous_by_default
def id_get(
    node: Node, handle: str, indexes: tuple[int, ...], types: tuple[str, ...], verify: bool, trust_ca: str | None
) -> None:
    """Resolve HANDLE and print its values as Handle REST JSON."""
    from idnode.registry.values import Value

    if trust_ca is not None and not verify:
        raise click.UsageError("--trust-ca goes with --verify")

    name, values = _resolve_values(node, handle, indexes, types)
    document: dict[str, Any] = {"handle": name, "values": [value.to_json() for value in values]}
    if not verify:
        _dump(document)
        return
    import time

    from idnode.registry import signing
    from idnode.registry.errors import HandleError

    trust = None
    if trust_ca is not None:
        try:
            trust = signing.TrustAnchors.from_pem(Path(trust_ca).read_bytes(), f"--trust-ca {trust_ca}")
        except HandleError as exc:
            raise click.BadParameter(exc.message, param_hint="--trust-ca") from None
    checked = list(values)
    if (indexes or types) and not any(v.type == signing.SIGNATURE_TYPE for v in values):
        with contextlib.suppress(ClientError):  # the filter left the signature out: fetch it to check the values
            checked += _resolve_values(node, name, (), (signing.SIGNATURE_TYPE,))[1]
    ref = signing.key_reference(checked)
    key: Value | None = None
    if ref is not None and not (ref.handle == name and any(v.index == ref.index for v in checked)):
        try:  # the key lives in another handle (or was filtered out): resolve it through the same node
            _, found = _resolve_values(node, ref.handle, (ref.index,), ())
            key = next((v for v in found if v.index == ref.index), None)
        except ClientError:
            key = None
    verdict = signing.verify(name, checked, key, now=time.time(), partial=bool(indexes or types), trust=trust)
    document["signature"] = {"status": verdict.status.value, "message": verdict.message}
    _dump(document)
    if verdict.status is not signing.Status.VALID:
        click.echo(f"error: signature {verdict.status.value}: {verdict.message}", err=True)
        sys.exit(1)


def _resolve_values(node: Node, handle: str, indexes: tuple[int, ...], types: tuple[str, ...]) -> tuple[str, list[Any]]:
    """The normalised handle and its values (as :class:`Value`); a failed resolution exits 1."""
    from idnode.proto import resolver_pb2
    from idnode.registry.values import Value

    request = resolver_pb2.ResolveRequest(handle=handle, indexes=indexes, types=types)
    response = node.call(node.resolver().Resolve, request)
    if response.response_code not in (0, 1):
        raise ClientError(response.response_code, response.message or "resolution failed")
    return response.handle or handle, [Value.from_pb(v) for v in response.values]


@id_group.command("register", context_settings=CONTEXT)
@click.argument("handle")
@click.option("--value", "value_specs", multiple=True, metavar="INDEX:TYPE:DATA", help=_VALUE_HELP)
@click.option("--values-json", type=click.File("r", encoding="utf-8"), metavar="FILE|-", help=_VALUES_JSON_HELP)
@click.option("--template-version", default="", metavar="V", help="Check the values against this template version.")
@client_command
def id_register(
    node: Node, handle: str, value_specs: tuple[str, ...], values_json: IO[str] | None, template_version: str
) -> None:
    """Register HANDLE with the given values."""
    from idnode.proto import registry_pb2

    values = _values(value_specs, values_json)
    if not values:
        raise click.UsageError("give at least one --value or --values-json")
    request = registry_pb2.IdentifierWrite(handle=handle, values=values, template_version=template_version)
    _write_result(node.call(node.registry().CreateIdentifier, request))


@id_group.command("update", context_settings=CONTEXT)
@click.argument("handle")
@click.option(
    "--mode",
    type=click.Choice(["replace", "add", "modify", "remove"]),
    help="replace all values (default), add new indexes, modify existing indexes, "
    "or remove --remove-index values (default when only --remove-index is given).",
)
@click.option("--value", "value_specs", multiple=True, metavar="INDEX:TYPE:DATA", help=_VALUE_HELP)
@click.option("--values-json", type=click.File("r", encoding="utf-8"), metavar="FILE|-", help=_VALUES_JSON_HELP)
@click.option(
    "--remove-index",
    "remove_indexes",
    type=click.IntRange(1),
    multiple=True,
    metavar="N",
    help="Index to remove with --mode remove (repeatable).",
)
@click.option("--template-version", default="", metavar="V", help="New template version (default: keep).")
@client_command
def id_update(
    node: Node,
    handle: str,
    mode: str | None,
    value_specs: tuple[str, ...],
    values_json: IO[str] | None,
    remove_indexes: tuple[int, ...],
    template_version: str,
) -> None:
    """Change the values of HANDLE."""
    from idnode.proto import registry_pb2

    values = _values(value_specs, values_json)
    if mode is None:
        mode = "remove" if remove_indexes and not values else "replace"
    if mode == "remove":
        if not remove_indexes or values:
            raise click.UsageError("--mode remove takes --remove-index and no values")
    elif remove_indexes or not values:
        raise click.UsageError(f"--mode {mode} takes --value/--values-json and no --remove-index")
    request = registry_pb2.IdentifierUpdate(
        handle=handle,
        mode=registry_pb2.UpdateMode.Value("UPDATE_MODE_" + mode.upper()),
        values=values,
        remove_indexes=remove_indexes,
        template_version=template_version,
    )
    _write_result(node.call(node.registry().UpdateIdentifier, request))


@id_group.command("delete", context_settings=CONTEXT)
@click.argument("handle")
@client_command
def id_delete(node: Node, handle: str) -> None:
    """Delete HANDLE (it then resolves as not found)."""
    from idnode.proto import registry_pb2

    _write_result(node.call(node.registry().DeleteIdentifier, registry_pb2.IdentifierDelete(handle=handle)))


@id_group.command("sign", context_settings=CONTEXT)
@click.argument("handle")
@click.option(
    "--key", "key_file", required=True, type=click.Path(dir_okay=False, exists=True), help="PEM private key file."
)
@click.option(
    "--key-handle",
    metavar="HANDLE:INDEX",
    help="Where the key's HS_PUBKEY is published [default: HANDLE:300, in the record itself].",
)
@click.option(
    "--index", "sig_index", type=click.IntRange(1), default=400, show_default=True, help="HS_SIGNATURE index."
)
@click.option("--lifetime", type=click.IntRange(1), metavar="SECONDS", help="The signature expires after this time.")
@click.option(
    "--cert",
    "cert_file",
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE",
    help="PEM X.509 certificate of the key (then any intermediates): written as an HS_CERT beside the signature, "
    "which names it as its key (instead of an HS_PUBKEY).",
)
@click.option(
    "--cert-index", type=click.IntRange(1), default=401, show_default=True, help="HS_CERT index (with --cert)."
)
@client_command
def id_sign(
    node: Node,
    handle: str,
    key_file: str,
    key_handle: str | None,
    sig_index: int,
    lifetime: int | None,
    cert_file: str | None,
    cert_index: int,
) -> None:
    """Sign HANDLE's publicly readable values: write an HS_SIGNATURE (a JWT of their digests).

    The key is published beforehand as an HS_PUBKEY (idnode keys generate), or given here as a
    certificate (--cert), which is written with the signature.
    """
    import time

    from idnode.registry import signing
    from idnode.registry.errors import HandleError
    from idnode.registry.values import Reference

    try:
        key = signing.load_private_key(Path(key_file).read_bytes())
    except HandleError as exc:
        raise click.BadParameter(exc.message, param_hint="--key") from None
    given = None
    if key_handle is not None:
        ref_handle, _, ref_index = key_handle.rpartition(":")
        try:
            if not (ref_index.isascii() and ref_index.isdigit()):
                raise HandleError("not an index")
            given = Reference(ref_handle, int(ref_index))
        except HandleError:
            raise click.BadParameter(f"{key_handle!r}: expected HANDLE:INDEX", param_hint="--key-handle") from None
    cert = None
    if cert_file is not None:
        if key_handle is not None:
            raise click.UsageError("--cert names the key itself: leave out --key-handle")
        if cert_index == sig_index:
            raise click.UsageError("--cert-index and --index must differ")
        try:
            cert = signing.cert_value(Path(cert_file).read_bytes(), cert_index)
        except HandleError as exc:
            raise click.BadParameter(exc.message, param_hint="--cert") from None
        if not signing.holds_key(cert, key):
            raise click.BadParameter("the certificate is not of the --key private key", param_hint="--cert")
    name, values = _resolve_values(node, handle, (), ())
    existing = {v.index for v in values}
    if cert is not None:
        ref = Reference(name, cert_index)
        values = [v for v in values if v.index != cert_index] + [cert]  # signed with the new certificate
    else:
        ref = given or Reference(name, signing.PUBKEY_INDEX)
        published = values if ref.handle == name else _resolve_values(node, ref.handle, (ref.index,), ())[1]
        if not any(v.index == ref.index and signing.holds_key(v, key) for v in published):
            _fail(
                200,
                f"{ref.index}:{ref.handle} does not hold this key's HS_PUBKEY; publish it first (idnode keys generate)",
            )
    try:
        signature = signing.sign_values(
            name, values, key, ref, now=int(time.time()), lifetime=lifetime, index=sig_index
        )
    except HandleError as exc:
        _fail(exc.code, exc.message)
    _write_values(node, name, [*([] if cert is None else [cert]), signature], existing)


def _write_values(node: Node, name: str, new: list[Any], existing: set[int]) -> None:
    """Add or modify the values ``new`` of ``name`` (``existing``: the indexes it has): one
    UpdateIdentifier when they are all new or all there already, else one per value, in order."""
    from idnode.proto import registry_pb2

    groups = [new] if len({v.index in existing for v in new}) == 1 else [[v] for v in new]
    for group in groups:
        mode = registry_pb2.UPDATE_MODE_MODIFY if group[0].index in existing else registry_pb2.UPDATE_MODE_ADD
        request = registry_pb2.IdentifierUpdate(handle=name, mode=mode, values=[v.to_pb() for v in group])
        _write_result(node.call(node.registry().UpdateIdentifier, request))


# -- signing keys -----------------------------------------------------------------


@main.group(context_settings=CONTEXT)
def keys() -> None:
    """Make signing keys for signed values (registry/README.md, "Signed values")."""


@keys.command("generate", context_settings=CONTEXT)
@click.argument("key_file", type=click.Path(dir_okay=False))
@click.option("--algorithm", type=click.Choice(["EdDSA", "ES256"]), default="EdDSA", show_default=True)
@click.option("--index", type=click.IntRange(1), default=300, show_default=True, help="Index of the HS_PUBKEY value.")
def keys_generate(key_file: str, algorithm: str, index: int) -> None:
    """Write a new private key to KEY_FILE (mode 0600, never overwritten) and print the HS_PUBKEY value to publish.

    The printed JSON list feeds `idnode id update HANDLE --mode add --values-json -`.
    """
    from idnode.registry import signing

    key = signing.generate_key(algorithm)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.BadParameter(f"cannot create {key_file}: {exc.strerror}", param_hint="KEY_FILE") from None
    with os.fdopen(fd, "wb") as out:
        out.write(signing.private_pem(key))
    value = signing.pubkey_value(key, index).to_json()
    del value["timestamp"]
    _dump([value])


# -- enterprises and prefixes -----------------------------------------------------


@main.group(context_settings=CONTEXT)
def enterprise() -> None:
    """Register and approve enterprises."""


@enterprise.command("add", context_settings=CONTEXT)
@click.option("--credit-code", required=True, metavar="C", help="Unified social credit code (18 characters).")
@click.option("--name", required=True, metavar="N", help="Registered name.")
@click.option("--contact", default="", metavar="X", help="Contact person, mail or phone.")
@client_command
def enterprise_add(node: Node, credit_code: str, name: str, contact: str) -> None:
    """Register an enterprise (it starts pending)."""
    from idnode.proto import registry_pb2

    request = registry_pb2.Enterprise(credit_code=credit_code, name=name, contact=contact)
    _dump(_enterprise_json(node.call(node.registry().AddEnterprise, request)))


@enterprise.command("list", context_settings=CONTEXT)
@client_command
def enterprise_list(node: Node) -> None:
    """List the enterprises the caller may see."""
    from idnode.proto import registry_pb2

    response = node.call(node.registry().ListEnterprises, registry_pb2.ListEnterprisesRequest())
    _dump([_enterprise_json(e) for e in response.enterprises])


def _set_status(node: Node, credit_code: str, status: str) -> None:
    from idnode.proto import registry_pb2

    request = registry_pb2.SetEnterpriseStatusRequest(
        credit_code=credit_code, status=registry_pb2.EnterpriseStatus.Value("ENTERPRISE_STATUS_" + status)
    )
    _dump(_enterprise_json(node.call(node.registry().SetEnterpriseStatus, request)))


@enterprise.command("approve", context_settings=CONTEXT)
@click.argument("credit_code")
@client_command
def enterprise_approve(node: Node, credit_code: str) -> None:
    """Approve the enterprise CREDIT_CODE."""
    _set_status(node, credit_code, "APPROVED")


@enterprise.command("suspend", context_settings=CONTEXT)
@click.argument("credit_code")
@client_command
def enterprise_suspend(node: Node, credit_code: str) -> None:
    """Suspend the enterprise CREDIT_CODE (its writes are refused)."""
    _set_status(node, credit_code, "SUSPENDED")


@main.group(context_settings=CONTEXT)
def prefix() -> None:
    """Allocate and list prefixes."""


@prefix.command("allocate", context_settings=CONTEXT)
@click.argument("credit_code")
@click.option(
    "--prefix",
    "wanted",
    default="",
    metavar="P",
    help="The prefix to allocate, e.g. 88.118.8 (default: the next free one).",
)
@client_command
def prefix_allocate(node: Node, credit_code: str, wanted: str) -> None:
    """Allocate a prefix to the enterprise CREDIT_CODE."""
    from idnode.proto import registry_pb2

    request = registry_pb2.AllocatePrefixRequest(credit_code=credit_code, prefix=wanted)
    _dump(_prefix_json(node.call(node.registry().AllocatePrefix, request)))


@prefix.command("list", context_settings=CONTEXT)
@click.option("--credit-code", default="", metavar="C", help="Only this enterprise's prefixes.")
@client_command
def prefix_list(node: Node, credit_code: str) -> None:
    """List the prefixes the caller may see."""
    from idnode.proto import registry_pb2

    response = node.call(node.registry().ListPrefixes, registry_pb2.ListPrefixesRequest(credit_code=credit_code))
    _dump([_prefix_json(p) for p in response.prefixes])


# -- templates --------------------------------------------------------------------


@main.group(context_settings=CONTEXT)
def template() -> None:
    """Store and read metadata templates."""


@template.command("put", context_settings=CONTEXT)
@click.argument("file", type=click.File("r", encoding="utf-8"))
@client_command
def template_put(node: Node, file: IO[str]) -> None:
    """Store the template in FILE (JSON, enterprise API shape; - for stdin)."""
    try:
        request = template_from_json(json.load(file))
    except (json.JSONDecodeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None
    _dump(template_to_json(node.call(node.registry().PutTemplate, request)))


@template.command("get", context_settings=CONTEXT)
@click.argument("prefix_text", metavar="PREFIX")
@click.option("--version", "template_version", default="", metavar="V", help="Version (default: the latest).")
@client_command
def template_get(node: Node, prefix_text: str, template_version: str) -> None:
    """Print the template of PREFIX."""
    from idnode.proto import registry_pb2

    request = registry_pb2.GetTemplateRequest(prefix=prefix_text, version=template_version)
    _dump(template_to_json(node.call(node.registry().GetTemplate, request)))


# -- credentials ------------------------------------------------------------------


@main.group(context_settings=CONTEXT)
def token() -> None:
    """Issue and revoke API tokens."""


@token.command("create", context_settings=CONTEXT)
@click.option("--role", required=True, type=click.Choice(["enterprise", "auditor", "node-admin"]))
@click.option("--credit-code", default="", metavar="C", help="The enterprise, for role enterprise.")
@click.option("--label", default="", metavar="L", help="A note to recognise the token by.")
@client_command
def token_create(node: Node, role: str, credit_code: str, label: str) -> None:
    """Issue a token. It is printed once; only its digest is stored."""
    from idnode.proto import registry_pb2

    if role == "enterprise" and not credit_code:
        raise click.UsageError("--role enterprise needs --credit-code")
    request = registry_pb2.CreateTokenRequest(role=role, credit_code=credit_code, label=label)
    response = node.call(node.registry().CreateToken, request)
    _dump({"token_id": response.token_id, "token": response.token})
    click.echo("note: store the token now; it cannot be shown again", err=True)


@token.command("revoke", context_settings=CONTEXT)
@click.argument("token_id")
@client_command
def token_revoke(node: Node, token_id: str) -> None:
    """Revoke the token TOKEN_ID."""
    from idnode.proto import registry_pb2

    response = node.call(node.registry().RevokeToken, registry_pb2.RevokeTokenRequest(token_id=token_id))
    _dump({"token_id": token_id, "revoked": response.revoked})
    if not response.revoked:
        _fail(100, f"token {token_id} not found or already revoked")


@main.command(context_settings=CONTEXT)
@client_command
def whoami(node: Node) -> None:
    """Print who the node takes the caller for."""
    from idnode.proto import registry_pb2

    response = node.call(node.registry().WhoAmI, registry_pb2.WhoAmIRequest())
    _dump(
        {
            "role": response.role,
            "credit_code": response.credit_code,
            "prefixes": list(response.prefixes),
            "actor": response.actor,
            "token_id": response.token_id,
        }
    )


# -- bulk -------------------------------------------------------------------------


@main.command("import", context_settings=CONTEXT)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Default: from the file extension.")
@click.option(
    "--batch-size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 2000),
    help="Identifiers per BatchCreate call.",
)
@click.option(
    "--in-flight", default=4, show_default=True, type=click.IntRange(1, 64), help="Calls outstanding at once."
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    metavar="FILE",
    help="Write every reject as JSONL (line, handle, code, message) to FILE.",
)
@client_command
def import_(node: Node, file: str, fmt: str | None, batch_size: int, in_flight: int, rejects_path: str | None) -> None:
    """Register the identifiers in FILE (CSV or JSONL; - for stdin).

    JSONL: one {"handle", "templateVersion", "values": [...]} per line, the
    shape `idnode export` writes. CSV: header handle,index,type,data
    [,format,ttl,permissions,template_version], one row per value;
    consecutive rows with the same handle form one identifier. Exits 1 when
    anything was rejected.
    """
    from idnode.importer import ImportAborted, detect_format, iter_items, run_import

    try:
        kind = detect_format(None if file == "-" else file, fmt)
    except ValueError as exc:
        raise click.UsageError(f"{exc} with --format") from None
    stream: IO[bytes] = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    total = 0 if file == "-" else os.path.getsize(file)
    aborted: ImportAborted | None = None
    try:
        with click.progressbar(
            length=max(total, 1),
            label="importing",
            file=sys.stderr,
            item_show_func=lambda s: s and f"{s.accepted} accepted, {len(s.rejected)} rejected",
        ) as bar:
            seen = 0

            def progress(summary: Any) -> None:
                nonlocal seen
                try:
                    position = stream.tell() if total else 0
                except OSError:
                    position = seen
                bar.update(max(position - seen, 0), summary)
                seen = max(position, seen)

            try:
                summary = run_import(
                    node.registry(),
                    iter_items(stream, kind),
                    node.token,
                    batch_size,
                    in_flight,
                    progress,
                    target=node.target,
                )
            except ImportAborted as exc:
                aborted, summary = exc, exc.summary
            bar.update(max(total - seen, 0), summary)
    finally:
        if file != "-":
            stream.close()
    rejected = summary.rejected
    click.echo(
        f"imported: {summary.accepted} accepted, {len(rejected)} rejected in {summary.seconds:.1f} s "
        f"({summary.rate:.0f} rows/s)"
    )
    for reject in rejected[:MAX_REJECTS_SHOWN]:
        click.echo(f"reject: line {reject.line} {reject.handle or '-'}: {reject.code} {reject.message}", err=True)
    if len(rejected) > MAX_REJECTS_SHOWN:
        more = len(rejected) - MAX_REJECTS_SHOWN
        click.echo(
            f"reject: ... and {more} more" + ("" if rejects_path else " (write them all with --rejects FILE)"), err=True
        )
    if rejects_path:
        with click.open_file(rejects_path, "w", encoding="utf-8") as out:
            for reject in rejected:
                out.write(json.dumps(reject.to_json(), ensure_ascii=False) + "\n")
    if aborted is not None:
        _fail(aborted.code, f"import stopped: {aborted.message}")
    sys.exit(1 if rejected else 0)


@main.command(context_settings=CONTEXT)
@click.option("--prefix", "prefix_text", default="", metavar="P", help="Only this prefix (default: everything).")
@click.option(
    "--output",
    "-o",
    default="-",
    show_default=True,
    metavar="FILE|-",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where to write the JSONL.",
)
@client_command
def export(node: Node, prefix_text: str, output: str) -> None:
    """Write identifiers as JSONL (the shape `idnode import` reads)."""
    from idnode.importer import dumps_line, record_to_json
    from idnode.proto import registry_pb2

    records = call_stream(
        node.registry().ExportIdentifiers,
        registry_pb2.ExportRequest(prefix=prefix_text),
        node.token,
        target=node.target,
    )
    count = 0
    if output == "-":
        out = sys.stdout
        for record in records:
            out.write(dumps_line(record_to_json(record)) + "\n")
            count += 1
        out.flush()
    else:
        # Write beside the target and rename at the end: a failed export
        # never leaves a truncated file under the final name.
        final = Path(output)
        partial = final.with_name(final.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8") as out:
                for record in records:
                    out.write(dumps_line(record_to_json(record)) + "\n")
                    count += 1
            partial.replace(final)
        finally:
            partial.unlink(missing_ok=True)
    click.echo(f"exported: {count} identifiers", err=True)


@main.command(context_settings=CONTEXT)
@client_command
def stats(node: Node) -> None:
    """Print node statistics as JSON."""
    from google.protobuf.json_format import MessageToDict

    from idnode.proto import registry_pb2

    response = node.call(node.registry().GetStats, registry_pb2.StatsRequest())
    options: dict[str, Any] = {"preserving_proto_field_name": True, "always_print_fields_with_no_presence": True}
    try:
        document = MessageToDict(response, unquote_int64_if_possible=True, **options)
    except TypeError:  # older protobuf: 64-bit numbers stay JSON strings
        document = MessageToDict(response, **options)
    _dump(document)


# -- benchmark --------------------------------------------------------------------


@main.command(
    "bench",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False, "max_content_width": 100},
    add_help_option=False,
)
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def bench(options: tuple[str, ...]) -> None:
    """Benchmark the node against a bare gRPC echo server and raw LMDB (see `idnode bench --help`)."""
    from idnode.loadtest.bench import main as bench_main

    sys.exit(bench_main(list(options)))


@main.group("loadtest", context_settings=CONTEXT)
def loadtest_group() -> None:
    """Prepare a node for the Locust load test (loadtest/README.md)."""


@loadtest_group.command("seed", context_settings=CONTEXT)
@click.option("--count", default=100_000, show_default=True, type=click.IntRange(1), help="Identifiers to load.")
@click.option(
    "--keys",
    "keys_path",
    default="keys.json",
    show_default=True,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Key file to write: the handles and the registration user's token.",
)
@click.option("--prefix", "seed_prefix", default="88.118.8", show_default=True, metavar="P", help="Seed prefix.")
@click.option("--reg-prefix", default="88.118.99", show_default=True, metavar="P", help="Registration user's prefix.")
@click.option("--seed", "data_seed", default=2106023, show_default=True, type=int, help="Data generator seed.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 2000), help="Per BatchCreate.")
@client_command
def loadtest_seed(
    node: Node, count: int, keys_path: str, seed_prefix: str, reg_prefix: str, data_seed: int, batch_size: int
) -> None:
    """Load COUNT generated identifiers into the node (admin credential) and write the key file."""
    from idnode.loadtest.seed import seed

    with click.progressbar(length=count, label="seeding", file=sys.stderr) as bar:

        def progress(summary: Any) -> None:
            bar.update(summary.processed - bar.pos)

        try:
            result = seed(
                node.target,
                node.token,
                count,
                keys_path,
                prefix=seed_prefix,
                reg_prefix=reg_prefix,
                data_seed=data_seed,
                batch_size=batch_size,
                progress=progress,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    summary = result.summary
    click.echo(
        f"seeded: {summary.accepted} accepted ({summary.created} new), {len(summary.rejected)} rejected "
        f"in {summary.seconds:.1f} s ({summary.rate:.0f} rows/s)"
    )
    for reject in summary.rejected[:MAX_REJECTS_SHOWN]:
        click.echo(f"reject: {reject.handle}: {reject.code} {reject.message}", err=True)
    if summary.rejected:
        _fail(summary.rejected[0].code, f"{len(summary.rejected)} identifiers rejected; no key file written")
    click.echo(f"keys: {keys_path} ({count} handles under {seed_prefix}; registration prefix {reg_prefix})")


@main.group(context_settings=CONTEXT)
def certs() -> None:
    """TLS certificates."""


@certs.command("dev", context_settings=CONTEXT)
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True, help="Validity.")
def certs_dev(folder: str, days: int) -> None:
    """Write a development CA, a server certificate (localhost, 127.0.0.1, ::1) and a client
    certificate into FOLDER; for tests and trials only (the CA key lies beside them)."""
    from idnode.certs import write_dev_certs

    try:
        written = write_dev_certs(Path(folder), days)
    except OSError as exc:
        raise click.ClickException(f"cannot write certificates to {folder}: {exc.strerror or exc}") from None
    for field in ("ca", "server_cert", "server_key", "client_cert", "client_key"):
        click.echo(f"{field.replace('_', ' ')}: {getattr(written, field)}")
    click.echo(
        f"serve:  idnode serve --tls-cert {written.server_cert} --tls-key {written.server_key}\n"
        f"client: idnode id get --ca {written.ca} HANDLE\n"
        f"replicas with certificates (primary): --replication-listen HOST:PORT --replication-client-ca {written.ca}\n"
        f"replica:  --primary-ca {written.ca} --primary-cert {written.client_cert} --primary-key {written.client_key}\n"
        f"recursing node: --peer-ca {written.ca}; node to a top node: --top-ca {written.ca} "
        f"--top-cert {written.client_cert} --top-key {written.client_key}"
    )


# -- audit (idnode/audit.py) ------------------------------------------------------------


@main.group("audit", context_settings=CONTEXT)
def audit_group() -> None:
    """Tamper-evident audit of the change log (registry/README.md, "Audit")."""


@audit_group.command("verify", context_settings=CONTEXT)
@data_dir_option("Data folder; the node may be running [env IDNODE_DATA_DIR].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
def audit_verify(data_dir: str, as_json: bool) -> None:
    """Walk the change log's hash chain from the first kept entry (anchored on the pruned marker, else
    genesis) and report the first break: sequence, kind (gap, digest mismatch, undecodable entry),
    expected vs found. Exit 0 when it verifies, 1 at a break, 2 when the folder cannot be read.
    Read-only and lock-free: works beside a running node."""
    from idnode.audit import format_report, verify_folder
    from idnode.registry.errors import StoreError

    try:
        report = verify_folder(data_dir)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
    sys.exit(0 if report["ok"] else 1)


# -- reference top-level node (sync/topnode/cli.py) ----------------------------------

from idnode.sync.topnode.cli import topnode as _topnode  # noqa: E402

main.add_command(_topnode)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="idnode")
