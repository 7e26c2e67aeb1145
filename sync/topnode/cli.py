"""``idnode topnode``: serve the reference top-level node and operate a running one over gRPC.

Operator commands authenticate with the admin credential: ``--token``,
``--token-file`` or ``<data-dir>/admin.credential`` (also ``IDNODE_TOP``,
``IDNODE_TOP_TOKEN``, ``IDNODE_TOP_DATA_DIR``). They print JSON; failures
print ``error: <gRPC status> <message>`` on stderr and exit 1.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULT_DATA_DIR = "topnode-data"


@click.group("topnode", context_settings=CONTEXT)
def topnode() -> None:
    """The reference top-level node (sync/README.md): `serve` runs one, the other commands operate it."""


@topnode.command(context_settings=CONTEXT)
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True, metavar="DIR", help="Data folder.")
@click.option("--grpc-listen", default="127.0.0.1:50061", show_default=True, metavar="HOST:PORT")
@click.option("--tls-cert", metavar="FILE", help="PEM certificate chain: serve gRPC over TLS.")
@click.option("--tls-key", metavar="FILE", help="PEM private key of --tls-cert [default: in the certificate file].")
@click.option(
    "--tls-client-ca", metavar="FILE", help="PEM roots: require a client certificate issued by them (mutual TLS)."
)
@click.option("--grace", type=float, default=10.0, show_default=True, metavar="SECONDS", help="Drain time on SIGTERM.")
def serve(
    data_dir: str, grpc_listen: str, tls_cert: str | None, tls_key: str | None, tls_client_ca: str | None, grace: float
) -> None:
    """Run a top-level node; prints `idnode topnode: gRPC listening on HOST:PORT` when ready."""
    import logging

    from idnode.registry.errors import StoreLocked
    from idnode.sync.topnode.server import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(
            run(data_dir, grpc_listen, grace=grace, tls_cert=tls_cert, tls_key=tls_key, tls_client_ca=tls_client_ca)
        )
    except (StoreLocked, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@topnode.command(context_settings=CONTEXT)
@click.argument("node_prefix")
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True, metavar="DIR", help="Top node data folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
def audit(node_prefix: str, data_dir: str, as_json: bool) -> None:
    """Walk the DR copy of NODE_PREFIX's change log (hash chain from genesis) and report the first break.

    Read-only and lock-free: runs beside the serving top node. Exit 0 when
    the copy verifies (its last digest equals the node's `idnode audit verify`
    last_digest when both are current), 1 at a break, 2 when the folder or
    node cannot be read.
    """
    from pathlib import Path

    from idnode.audit import walk_report
    from idnode.sync.topnode.service import audit_copy, normalise_prefix
    from idnode.sync.topnode.store import TopStore

    if not (Path(data_dir) / "lmdb").exists():
        click.echo(f"error: {data_dir} holds no top node data", err=True)
        sys.exit(2)
    store = TopStore(data_dir, readonly=True)
    try:
        walk = audit_copy(store, normalise_prefix(node_prefix))
    except Exception as exc:  # an unknown prefix, an unreadable folder
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    finally:
        store.close()
    b = walk.broken
    report = walk_report(walk, node_prefix=node_prefix)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(
            f"{node_prefix}: checked {walk.checked} changes up to sequence {walk.last[0]} ({walk.last[1].hex()})"
        )
        click.echo("chain ok" if b is None else f"BREAK at sequence {b.sequence}: {b.kind} ({b.message})")
    sys.exit(0 if b is None else 1)


def _operator(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --top/--token/--token-file/--data-dir and the TLS files; pass a ``call(method_name, request)`` function."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        top: str,
        token: str | None,
        token_file: str | None,
        data_dir: str,
        top_ca: str | None,
        top_cert: str | None,
        top_key: str | None,
        **kwargs: Any,
    ) -> Any:
        from google.protobuf.json_format import MessageToDict

        from idnode.client import ClientError, connect, resolve_token
        from idnode.client import call as client_call
        from idnode.proto import toplevel_pb2_grpc
        from idnode.sync.tls import TopTls

        try:
            credential = resolve_token(token, token_file, data_dir)
            tls = TopTls.load(top_ca, top_cert, top_key)
        except (ValueError, OSError) as exc:
            raise click.UsageError(str(exc)) from None
        channel = connect(top, tls)
        stub = toplevel_pb2_grpc.TopLevelStub(channel)

        def call(name: str, request: Any) -> None:
            reply = client_call(getattr(stub, name), request, credential, 30, target=top)
            options: dict[str, Any] = {
                "preserving_proto_field_name": True,
                "always_print_fields_with_no_presence": True,
            }
            try:
                document = MessageToDict(reply, unquote_int64_if_possible=True, **options)
            except TypeError:  # older protobuf: 64-bit numbers stay JSON strings
                document = MessageToDict(reply, **options)
            click.echo(json.dumps(document, indent=2, ensure_ascii=False))

        try:
            return func(*args, call=call, **kwargs)
        except ClientError as exc:
            click.echo(f"error: {exc.status} {exc.message}", err=True)
            sys.exit(1)
        finally:
            channel.close()

    options = (
        click.option("--top", envvar="IDNODE_TOP", default="127.0.0.1:50061", show_default=True, metavar="HOST:PORT"),
        click.option("--token", envvar="IDNODE_TOP_TOKEN", metavar="TOKEN", help="Admin credential."),
        click.option("--token-file", metavar="FILE", type=click.Path(dir_okay=False), help="Read it from FILE."),
        click.option(
            "--data-dir",
            envvar="IDNODE_TOP_DATA_DIR",
            default=DEFAULT_DATA_DIR,
            show_default=True,
            metavar="DIR",
            help="Top node data folder; its admin.credential is used when no token is given.",
        ),
        click.option("--top-ca", envvar="IDNODE_TOP_CA", metavar="FILE", help="PEM trust roots: TLS to the top node."),
        click.option("--top-cert", envvar="IDNODE_TOP_CERT", metavar="FILE", help="PEM client cert (mutual TLS)."),
        click.option("--top-key", envvar="IDNODE_TOP_KEY", metavar="FILE", help="PEM key of --top-cert."),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


@topnode.command(context_settings=CONTEXT)
@click.argument("prefix")
@click.option("--reason", default="", help="Note kept with the decision.")
@_operator
def approve(call: Callable[[str, Any], None], prefix: str, reason: str) -> None:
    """Approve a pending (or rejected) prefix: it resolves from now on."""
    from idnode.proto import toplevel_pb2

    call("ApprovePrefix", toplevel_pb2.PrefixDecision(prefix=prefix, reason=reason))


@topnode.command(context_settings=CONTEXT)
@click.argument("prefix")
@click.option("--reason", default="", help="Note kept with the decision.")
@_operator
def reject(call: Callable[[str, Any], None], prefix: str, reason: str) -> None:
    """Reject a pending prefix, or revoke an approved one."""
    from idnode.proto import toplevel_pb2

    call("RejectPrefix", toplevel_pb2.PrefixDecision(prefix=prefix, reason=reason))


@topnode.command(context_settings=CONTEXT)
@_operator
def nodes(call: Callable[[str, Any], None]) -> None:
    """Registered secondary nodes: sites, last heartbeat, DR copy acknowledged up to."""
    from idnode.proto import toplevel_pb2

    call("ListNodes", toplevel_pb2.ListNodesRequest())


@topnode.command(context_settings=CONTEXT)
@click.option("--node-prefix", default="", help="Only this node's prefixes.")
@click.option("--status", type=click.Choice(["pending", "approved", "rejected"]), help="Only this state.")
@_operator
def prefixes(call: Callable[[str, Any], None], node_prefix: str, status: str | None) -> None:
    """Requested prefixes and their approval state."""
    from idnode.proto import toplevel_pb2
    from idnode.sync.topnode.service import STATUS_BY_NAME

    call(
        "ListPrefixes",
        toplevel_pb2.ListPrefixApprovalsRequest(node_prefix=node_prefix, status=STATUS_BY_NAME.get(status or "", 0)),
    )


@topnode.command(context_settings=CONTEXT)
@click.option("--node-prefix", default="", help="Only this node's reports.")
@click.option("--day", default="", metavar="YYYY-MM-DD", help="Only this day.")
@_operator
def stats(call: Callable[[str, Any], None], node_prefix: str, day: str) -> None:
    """Received statistics reports, per node and day."""
    from idnode.proto import toplevel_pb2

    call("GetStats", toplevel_pb2.StatsQuery(node_prefix=node_prefix, day=day))
