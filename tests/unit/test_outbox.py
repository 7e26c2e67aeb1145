"""The outbox (sync/outbox.py) against the reference top-level node's servicer
on a real loopback gRPC server: batches in order, the durable cursor across a
reopen, backoff while the top node is down and the drain after, lag figures."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from idnode.proto import toplevel_pb2
from idnode.registry import changelog
from idnode.registry.auth import Principal
from idnode.registry.model import IdentifierWrite
from idnode.registry.store import u64
from idnode.registry.uscc import check_character
from idnode.registry.values import Value
from idnode.sync.outbox import Outbox, backoff_delay, site, to_change

topnode = pytest.importorskip("idnode.sync.topnode.server")
from idnode.sync.topnode import TopLevel, TopStore  # noqa: E402

ADMIN = Principal("node-admin", token_id="0123456789abcdef")
CODE = "91440300192203821" + check_character("91440300192203821")
TOP_ADMIN = "top-admin-secret"
NODE_SECRET = "node-secret"


class Top:
    """The reference top-level node in-process: its store, logic and a real gRPC server."""

    def __init__(self, path) -> None:
        self.path = path
        self.store = TopStore(path)
        self.core = TopLevel(self.store, TOP_ADMIN)
        self.server = None
        self.port = 0

    async def start(self, port: int = 0) -> Top:
        self.server, self.port = await topnode.start_topnode_server(self.core, f"127.0.0.1:{port}")
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)
            self.server = None

    def close(self) -> None:
        self.store.close()

    def copy(self, node_prefix: str = "88.118") -> list[toplevel_pb2.Change]:
        """The DR copy of a node, in sequence order."""
        request = toplevel_pb2.FetchChangesRequest(node_prefix=node_prefix)
        try:
            return list(self.core.fetch_changes(TOP_ADMIN, request))
        except Exception:  # not registered yet
            return []


@pytest.fixture
async def top(tmp_path):
    peer = await Top(tmp_path / "top").start()
    yield peer
    await peer.stop()
    peer.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_outbox(registry, port: int, **options) -> Outbox:
    options = {"poll": 0.01, "backoff_base": 0.01, "backoff_cap": 0.05, "deadline": 2.0, **options}
    return Outbox(
        registry.store,
        registry.writer,
        f"127.0.0.1:{port}",
        registry.node_prefix,
        credential=NODE_SECRET,
        sites=[site("grpc", "127.0.0.1:50051")],
        **options,
    )


async def until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


async def seed(registry, count: int, start: int = 0) -> None:
    """An approved enterprise with prefix 88.118.8 (first call) and ``count`` identifiers."""
    if registry.store.get("prefixes", b"88.118.8") is None:
        await registry.add_enterprise(ADMIN, CODE, "Enterprise", "ops@example.com")
        await registry.set_enterprise_status(ADMIN, CODE, "approved")
        await registry.allocate_prefix(ADMIN, CODE, "88.118.8")
    owner = Principal("enterprise", credit_code=CODE, token_id="fedcba9876543210")
    for i in range(start, start + count):
        await registry.create(owner, IdentifierWrite(f"88.118.8/OB-{i:04d}", (Value(1, "URL", b"https://x/%d" % i),)))


def assert_exact_copy(registry, copy: list[toplevel_pb2.Change]) -> None:
    """The top node holds every change-log entry once, in order, byte for byte."""
    last = registry.store.last_sequence()
    assert [c.sequence for c in copy] == list(range(1, last + 1))
    local = dict(registry.store.changes_after(0, limit=10**6, max_bytes=1 << 40))
    assert all(c.entry == local[c.sequence] for c in copy)


# -- pure parts ----------------------------------------------------------------------


def test_backoff_is_full_jitter_capped():
    assert backoff_delay(0, 0.2, 30, rng=lambda: 0.999999) == pytest.approx(0.2, rel=1e-5)
    assert backoff_delay(3, 0.2, 30, rng=lambda: 0.5) == pytest.approx(0.8)
    assert backoff_delay(500, 0.2, 30, rng=lambda: 0.999999) == pytest.approx(30, rel=1e-5)
    assert backoff_delay(7, 0.2, 30, rng=lambda: 0.0) == 0.0


def test_site_from_listen_address():
    assert site("dns", "off") is None
    s = site("http", "[::1]:8000")
    assert (s.protocol, s.host, s.port) == (toplevel_pb2.SITE_PROTOCOL_HTTP, "::1", 8000)
    assert site("grpc", "0.0.0.0:50051").host == socket.getfqdn()


async def test_changes_after_limits_and_change_kinds(registry):
    await seed(registry, 5)
    last = registry.store.last_sequence()
    everything = registry.store.changes_after(0, limit=1000)
    assert [seq for seq, _ in everything] == list(range(1, last + 1))
    assert [seq for seq, _ in registry.store.changes_after(2, limit=3)] == [3, 4, 5]
    assert registry.store.changes_after(last) == []
    one = registry.store.changes_after(0, limit=1000, max_bytes=1)  # one entry even when it is larger
    assert len(one) == 1
    changes = [to_change(seq, raw) for seq, raw in everything]
    created = [c for c in changes if c.kind == toplevel_pb2.CHANGE_KIND_CREATE]
    assert [c.handle for c in created if c.handle.startswith("88.118.8/")] == [f"88.118.8/OB-{i:04d}" for i in range(5)]
    assert all(c.db == "identifiers" and c.record and c.time for c in created)
    assert {c.kind for c in changes} == {toplevel_pb2.CHANGE_KIND_CREATE, toplevel_pb2.CHANGE_KIND_OTHER}
    assert all(c.handle == "" for c in changes if c.kind == toplevel_pb2.CHANGE_KIND_OTHER)


# -- against the reference top-level node ------------------------------------------------


async def test_pushes_in_order_in_batches_and_resumes_from_the_cursor(registry_factory, top):
    registry = registry_factory()
    await seed(registry, 40)
    outbox = make_outbox(registry, top.port, batch_entries=7)
    outbox.start()
    await until(lambda: outbox.acked_sequence == registry.store.last_sequence())
    assert outbox.batches_total >= registry.store.last_sequence() // 7
    assert outbox.duplicates_total == 0 and outbox.connected
    await outbox.stop(5)
    assert_exact_copy(registry, top.copy())
    acked = registry.store.last_sequence()

    # Reopen the folder: the cursor is durable, the next outbox starts there.
    registry_factory.close_all()
    registry = registry_factory()
    assert registry.store.meta_u64(changelog.OUTBOX_CURSOR) == acked
    await seed(registry, 10, start=40)
    outbox = make_outbox(registry, top.port, batch_entries=4)
    assert outbox.position == acked
    outbox.start()
    await until(lambda: outbox.acked_sequence == registry.store.last_sequence())
    await outbox.stop(5)
    assert outbox.duplicates_total == 0
    assert_exact_copy(registry, top.copy())


async def test_lost_cursor_write_resumes_without_gap(registry, top):
    """A crash between the top node's ack and the cursor write: the cursor is
    behind; the registration's ack puts the outbox where the top node is."""
    await seed(registry, 20)
    outbox = make_outbox(registry, top.port)
    outbox.start()
    await until(lambda: outbox.acked_sequence == registry.store.last_sequence())
    await outbox.stop(5)
    registry.writer.run(lambda ctx: changelog.set_cursor(ctx, changelog.OUTBOX_CURSOR, 3))
    await seed(registry, 5, start=20)
    outbox = make_outbox(registry, top.port)
    assert outbox.position == 3
    outbox.start()
    await until(lambda: outbox.acked_sequence == registry.store.last_sequence())
    await outbox.stop(5)
    assert_exact_copy(registry, top.copy())


async def test_duplicates_are_harmless(registry, top):
    """Pushing from behind the top node's ack (a resend after a crash) stores nothing twice."""
    await seed(registry, 10)
    outbox = make_outbox(registry, top.port)
    outbox.start()
    await until(lambda: outbox.acked_sequence == registry.store.last_sequence())
    await outbox.stop(5)
    import grpc

    from idnode.proto import toplevel_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{top.port}") as channel:
        stub = toplevel_pb2_grpc.TopLevelStub(channel)
        batch = [to_change(seq, raw) for seq, raw in registry.store.changes_after(0, limit=5)]
        ack = await stub.PushChanges(
            toplevel_pb2.PushChangesRequest(node_prefix="88.118", changes=batch),
            metadata=(("authorization", f"Bearer {NODE_SECRET}"),),
        )
    assert (ack.applied, ack.duplicates, ack.highest_contiguous) == (0, 5, registry.store.last_sequence())
    assert_exact_copy(registry, top.copy())


async def test_backs_off_while_the_top_node_is_down_then_drains_in_order(registry, tmp_path):
    port = free_port()
    await seed(registry, 30)
    outbox = make_outbox(registry, port, batch_entries=8)
    outbox.start()
    await until(lambda: outbox.failures_total >= 3)
    assert outbox.acked_sequence == 0 and not outbox.connected
    status = outbox.status()
    assert status["lag_sequences"] == registry.store.last_sequence() > 0
    await seed(registry, 10, start=30)  # the backlog grows during the outage
    peer = await Top(tmp_path / "top").start(port)
    try:
        await until(lambda: outbox.acked_sequence == registry.store.last_sequence())
        assert outbox.connected and outbox.duplicates_total == 0
        assert_exact_copy(registry, peer.copy())

        # The top node goes away mid-stream and comes back on the same port and data.
        await peer.stop()
        await seed(registry, 10, start=40)
        await until(lambda: outbox.failures_total >= 6)
        await peer.start(port)
        await until(lambda: outbox.acked_sequence == registry.store.last_sequence())
        await outbox.stop(5)
        assert_exact_copy(registry, peer.copy())
    finally:
        await outbox.stop(0)
        await peer.stop()
        peer.close()


async def test_top_node_that_lost_its_copy_gets_it_again(registry, tmp_path):
    """A top node restored empty: the registration acks 0, the outbox resends everything."""
    await seed(registry, 10)
    first = await Top(tmp_path / "top1").start()
    outbox = make_outbox(registry, first.port, heartbeat=0.1)  # an idle node learns it at the next heartbeat
    outbox.start()
    await until(lambda: outbox.acked_sequence == registry.store.last_sequence())
    port = first.port
    await first.stop()
    first.close()
    second = await Top(tmp_path / "top2").start(port)
    try:
        await until(lambda: len(second.copy()) == registry.store.last_sequence())
        await outbox.stop(5)
        assert_exact_copy(registry, second.copy())
    finally:
        await outbox.stop(0)
        await second.stop()
        second.close()


async def test_lag_figures_in_stats(registry, top):
    await seed(registry, 5)
    last = registry.store.last_sequence()
    oldest = changelog.decode_entry(1, registry.store.changes_after(0, limit=1)[0][1]).time
    figures = changelog.lag(registry.store, changelog.OUTBOX_CURSOR, oldest + 42.5)
    assert figures == {"last_sequence": last, "acked_sequence": 0, "lag_sequences": last, "lag_seconds": 42.5}
    sync = registry.stats(ADMIN)["sync"]
    assert sync["top"] == "" and sync["lag_sequences"] == last and sync["lag_seconds"] >= 0
    registry.writer.run(lambda ctx: changelog.set_cursor(ctx, changelog.OUTBOX_CURSOR, 2))
    third = changelog.decode_entry(3, registry.store.get("changelog", u64(3))).time
    assert changelog.lag(registry.store, changelog.OUTBOX_CURSOR, third + 7)["lag_seconds"] == 7
    assert changelog.lag(registry.store, changelog.OUTBOX_CURSOR, third + 7)["lag_sequences"] == last - 2

    registry.top = f"127.0.0.1:{top.port}"
    outbox = make_outbox(registry, top.port)
    outbox.start()
    await until(lambda: outbox.acked_sequence == last)
    await outbox.stop(5)
    sync = registry.stats(ADMIN)["sync"]
    assert sync == {
        "top": f"127.0.0.1:{top.port}",
        "last_sequence": last,
        "acked_sequence": last,
        "lag_sequences": 0,
        "lag_seconds": 0.0,
    }
    assert (outbox.lag_sequences, outbox.lag_seconds) == (0, 0.0)
    enterprise = Principal("enterprise", credit_code=CODE, token_id="fedcba9876543210")
    assert "sync" not in registry.stats(enterprise)


async def test_stop_while_idle_and_while_backing_off_is_prompt(registry):
    outbox = make_outbox(registry, free_port(), backoff_base=5, backoff_cap=5)
    outbox.start()
    await until(lambda: outbox.failures_total >= 1)
    started = time.monotonic()
    await outbox.stop(2)
    assert time.monotonic() - started < 1
