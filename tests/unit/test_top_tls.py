"""TLS to the top-level node (sync/tls.py): the outbox, restore-from-top and recursion against the reference top
node's servicer served over (mutual) TLS on loopback, with certificates made in the test."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
import pytest

from idnode.registry.auth import Principal
from idnode.registry.errors import HandleNotFound, ServerNotResponsible
from idnode.registry.model import IdentifierWrite
from idnode.registry.store import Store
from idnode.registry.uscc import check_character
from idnode.registry.values import Value
from idnode.resolver.recursion import Recursor
from idnode.sync.outbox import Outbox, site
from idnode.sync.restore import restore_from_top
from idnode.sync.tls import TopTls, failure_hint
from idnode.sync.topnode import TopLevel, TopStore
from idnode.sync.topnode.server import start_topnode_server

ADMIN = Principal("node-admin", token_id="0123456789abcdef")
CODE = "91440300192203821" + check_character("91440300192203821")
NODE_SECRET = "node-secret"


@pytest.fixture
async def tls_top(tmp_path, tls_pki):
    """The reference top node on 127.0.0.1 over mutual TLS (a client certificate from the test CA required)."""
    store = TopStore(tmp_path / "top")
    core = TopLevel(store, "top-admin")
    creds = grpc.ssl_server_credentials(
        [(tls_pki.server_key.read_bytes(), tls_pki.server_cert.read_bytes())],
        root_certificates=tls_pki.ca.read_bytes(),
        require_client_auth=True,
    )
    server, port = await start_topnode_server(core, "127.0.0.1:0", server_credentials=creds)
    yield f"127.0.0.1:{port}"
    await server.stop(0)
    store.close()


def good(pki) -> TopTls:
    return TopTls.load(pki.ca, pki.client_cert, pki.client_key)


async def seeded(registry, count: int) -> None:
    await registry.add_enterprise(ADMIN, CODE, "Enterprise", "ops@example.com")
    await registry.set_enterprise_status(ADMIN, CODE, "approved")
    await registry.allocate_prefix(ADMIN, CODE, "88.118.8")
    owner = Principal("enterprise", credit_code=CODE, token_id="fedcba9876543210")
    for i in range(count):
        await registry.create(owner, IdentifierWrite(f"88.118.8/T-{i:03d}", (Value(1, "URL", b"https://x/%d" % i),)))


def outbox_to(registry, target: str, tls: TopTls | None) -> Outbox:
    return Outbox(
        registry.store,
        registry.writer,
        target,
        registry.node_prefix,
        credential=NODE_SECRET,
        sites=[site("grpc", "127.0.0.1:50051")],
        poll=0.01,
        backoff_base=0.01,
        backoff_cap=0.05,
        deadline=2.0,
        tls=tls,
    )


async def until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_outbox_pushes_over_mutual_tls_and_restore_fetches_it_back(registry, tls_top, tls_pki, tmp_path):
    target = tls_top
    await seeded(registry, 25)
    outbox = outbox_to(registry, target, good(tls_pki))
    outbox.start()
    try:
        # connected is set just after the cursor write the store already shows: wait for both
        await until(lambda: outbox.acked_sequence == registry.store.last_sequence() and outbox.connected)
        assert outbox.failures_total == 0
    finally:
        await outbox.stop(5)
    # restore-from-top over the same TLS (sync gRPC: off the event loop that serves the top node)
    result = await asyncio.to_thread(
        restore_from_top, target, tmp_path / "restored", "88.118", NODE_SECRET, 1 << 24, good(tls_pki)
    )
    assert result.last_sequence == registry.store.last_sequence()
    assert result.digest == registry.store.identifiers_digest()[1]
    restored = Store(tmp_path / "restored", map_size=1 << 24, lock=False, writable=False)
    try:
        assert restored.identifiers_digest() == registry.store.identifiers_digest()
    finally:
        restored.close()


@pytest.mark.parametrize(
    ("files", "hint"),
    [
        (("wrong_ca", "client_cert", "client_key"), "check --top-ca against the top-level node's certificate"),
        (("ca", None, None), "may require a client certificate"),  # mutual TLS without a client certificate
        ((None, None, None), "if the top-level node serves TLS: see --top-ca"),  # plain text to a TLS port
    ],
)
async def test_a_failing_handshake_is_logged_once_and_retried(registry, tls_top, tls_pki, caplog, files, hint):
    target = tls_top
    await seeded(registry, 3)
    ca, cert, key = (getattr(tls_pki, name) if name else None for name in files)
    outbox = outbox_to(registry, target, TopTls.load(ca, cert, key))
    caplog.set_level(logging.WARNING, logger="idnode.sync.outbox")
    outbox.start()
    try:
        await until(lambda: outbox.failures_total >= 3)  # it keeps retrying, with backoff
        assert not outbox.connected and outbox.acked_sequence == 0
    finally:
        await outbox.stop(0)
    lines = [r.getMessage() for r in caplog.records if "top-level node" in r.getMessage()]
    assert len(lines) == 1, lines  # one line per outage, not one per retry
    assert "UNAVAILABLE" in lines[0] and hint in lines[0] and "retrying with backoff" in lines[0]


async def test_recursion_asks_the_top_node_over_tls(tls_top, tls_pki):
    target = tls_top
    recursor = Recursor(target, "88.200", top_tls=good(tls_pki))
    try:  # the call goes through (an unknown prefix: 100 from the top node)
        with pytest.raises(HandleNotFound, match="no node serves prefix 88.118.8"):
            await recursor.site("88.118.8")
    finally:
        await recursor.close()
    wrong = Recursor(target, "88.200", top_tls=TopTls.load(tls_pki.wrong_ca, tls_pki.client_cert, tls_pki.client_key))
    try:
        with pytest.raises(ServerNotResponsible, match="cannot ask the top-level node .* UNAVAILABLE"):
            await wrong.site("88.118.8")
    finally:
        await wrong.close()


def test_load_reads_each_file_once_and_names_a_missing_one(tls_pki, tmp_path):
    assert TopTls.load(None, None, None) is None
    tls = TopTls.load(tls_pki.ca, tls_pki.client_cert, None)
    assert tls.ca == tls_pki.ca.read_bytes() and tls.key == tls.cert == tls_pki.client_cert.read_bytes()
    with pytest.raises(OSError, match=f"cannot read --top-ca {tmp_path / 'none.pem'}: No such file"):
        TopTls.load(tmp_path / "none.pem", None, None)
    with pytest.raises(OSError, match="--top-key .* needs --top-cert"):
        TopTls.load(None, None, tls_pki.client_key)
    assert failure_hint("failed to connect: Ssl handshake failed", None).startswith(" (TLS handshake failed")
    assert failure_hint("Connection refused", tls) == ""
