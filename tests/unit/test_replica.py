"""Read replicas (sync/replica.py, sync/retention.py, resolver/grpc/replication_service.py): chain checks,
applying and pruning the change log, snapshots, the replication status, and a Follower against a real
Replication service on loopback (following, pushing new commits, bootstrapping after pruning, refusing)."""

from __future__ import annotations

import asyncio
import datetime
import time

import grpc
import pytest

from idnode.proto import replication_pb2, replication_pb2_grpc
from idnode.registry import changelog
from idnode.registry.auth import Principal
from idnode.registry.errors import ServerBackup
from idnode.registry.model import IdentifierUpdate, IdentifierWrite
from idnode.registry.service import Registry
from idnode.registry.store import Store
from idnode.registry.uscc import check_character
from idnode.registry.values import Value
from idnode.registry.writer import Writer
from idnode.resolver.grpc.server import start_grpc_server, stop_grpc_server
from idnode.sync import replica as rep
from idnode.sync import stats
from idnode.sync.retention import Pruner, prune_op

ADMIN = Principal("node-admin", token_id="0123456789abcdef")
CODE = "91440300192203821" + check_character("91440300192203821")
OWNER = Principal("enterprise", credit_code=CODE, token_id="fedcba9876543210")
REPLICATED = ("identifiers", "prefixes", "enterprises", "templates", "credentials", "idx_gtin", "idx_oid", "counters")


def registrations(store: Store) -> tuple[list[tuple[bytes, bytes]], bytes | None]:
    """The day counters of registrations and the first day they are whole (sync/stats.py)."""
    with store.begin() as txn:
        return list(stats.registration_items(txn, store)), store.get("meta", stats.COUNTED_FROM)


def dump(store: Store, names=(*REPLICATED, "changelog")) -> dict[str, list[tuple[bytes, bytes]]]:
    with store.begin() as txn:
        return {name: [(bytes(k), bytes(v)) for k, v in txn.cursor(db=store.dbs[name])] for name in names}


async def populate(registry: Registry, first: int = 0, count: int = 20) -> None:
    if first == 0:
        await registry.add_enterprise(ADMIN, CODE, "Enterprise", "ops@example.com")
        await registry.set_enterprise_status(ADMIN, CODE, "approved")
        await registry.allocate_prefix(ADMIN, CODE, "88.118.8")
    for i in range(first, first + count):
        values = (Value(1, "URL", b"https://x/%d" % i), Value(2, "GTIN", b"0614141%06d" % i))
        await registry.create(OWNER, IdentifierWrite(f"88.118.8/R-{i:03d}", values))
    await registry.update(
        OWNER, IdentifierUpdate(f"88.118.8/R-{first + 1:03d}", "modify", (Value(1, "URL", b"https://changed/"),))
    )
    await registry.delete(OWNER, f"88.118.8/R-{first + 2:03d}")


@pytest.fixture
def replica_store(tmp_path):
    store = Store(tmp_path / "replica", map_size=1 << 20)
    writer = Writer(store)
    writer.start()
    yield store, writer
    writer.stop()
    store.close()


# -- verify ----------------------------------------------------------------------------


def test_verify_accepts_a_continuing_chain_and_refuses_gaps_and_forks(registry):
    for name in (b"a", b"b", b"c"):
        registry.writer.run(lambda ctx, n=name: registry._put(ctx, "meta", n, b"1", "t"))
    entries = registry.store.changes_after(0, limit=10)
    verified, head = rep.verify((0, changelog.GENESIS), entries)
    assert [s for s, _, _ in verified] == [1, 2, 3, 4] and head == (4, changelog.digest(entries[-1][1]))
    assert rep.verify(head, []) == ([], head)
    with pytest.raises(changelog.ChangeLogError, match="gap"):
        rep.verify((0, changelog.GENESIS), [entries[0], entries[2]])
    with pytest.raises(changelog.ChangeLogError, match="diverged"):
        rep.verify((1, b"\x01" * 32), entries[1:])
    with pytest.raises(changelog.ChangeLogError, match="malformed|truncated"):
        rep.verify((0, changelog.GENESIS), [(1, entries[0][1][:-3])])


# -- apply -----------------------------------------------------------------------------


async def test_applied_batches_give_byte_identical_data_and_log(registry, replica_store):
    await populate(registry)
    store, writer = replica_store
    entries = registry.store.changes_after(0, limit=100_000)
    head = (0, changelog.GENESIS)
    for start in range(0, len(entries), 7):  # uneven batches
        verified, head = rep.verify(head, entries[start : start + 7])
        state = {"primary": "p:1", "state": "following", "primary_sequence": len(entries), "caught_up_at": 1.0}
        writer.run(lambda ctx, v=verified, s=state: rep.apply_batch(ctx, v, s))
    assert dump(store) == dump(registry.store)
    assert registrations(store) == registrations(registry.store) and registrations(store)[0]  # counted on apply
    assert store.identifiers_digest() == registry.store.identifiers_digest()
    assert store.prefix_digests() == registry.store.prefix_digests()
    whole, per_prefix = store.prefix_digests()
    assert whole == store.identifiers_digest() and set(per_prefix) == {"0.na", "88.118.8"}
    assert sum(n for n, _ in per_prefix.values()) == whole[0] and per_prefix["0.na"][0] == 1
    assert store.get("meta", b"node_prefix") == b"88.118"
    # A batch that does not continue the writer's head is refused whole.
    with pytest.raises(Exception, match="out of step"):
        writer.run(lambda ctx: rep.apply_batch(ctx, verified, {"state": "following"}))
    assert dump(store) == dump(registry.store)


# -- pruning ---------------------------------------------------------------------------


def test_prune_keeps_the_window_the_head_and_the_outbox_cursor(tmp_path):
    store = Store(tmp_path / "p", map_size=1 << 20)
    now = [1000.0]
    writer = Writer(store, clock=lambda: now[0])
    try:
        for i in range(10):  # sequences 1..10 at times 1000..1009
            now[0] = 1000.0 + i
            writer.run(lambda ctx, i=i: ctx.log(changelog.OP_PUT, "meta", b"k%d" % i, b"v", "t"))
        before = store.changes_after(0, limit=100)
        assert writer.run(prune_op(1004.5, keep_outbox=False, limit=3)) == 3  # a bounded transaction
        assert writer.run(prune_op(1004.5, keep_outbox=False)) == 2
        kept = store.changes_after(0, limit=100)
        assert [s for s, _ in kept] == [6, 7, 8, 9, 10]
        assert changelog.pruned(store) == (5, changelog.digest(before[4][1]))
        assert changelog.verify_chain(kept, changelog.pruned(store)[1]) == 5

        writer.run(lambda ctx: changelog.set_cursor(ctx, changelog.OUTBOX_CURSOR, 7))
        assert writer.run(prune_op(10_000.0, keep_outbox=True)) == 2  # 6, 7: the top node has them
        assert writer.run(prune_op(10_000.0, keep_outbox=False)) == 2  # 8, 9: never the head
        assert [s for s, _ in store.changes_after(0)] == [10]
        writer.run(lambda ctx: ctx.log(changelog.OP_PUT, "meta", b"after", b"v", "t"))  # the chain goes on
        assert changelog.verify_chain(store.changes_after(0), changelog.pruned(store)[1]) == 2
        assert store.last_sequence() == 11
    finally:
        store.close()


async def test_pruner_runs_through_the_writer(registry):
    await populate(registry, count=5)
    last = registry.store.last_sequence()
    pruner = Pruner(registry.store, registry.writer, 60, keep_outbox=False, clock=lambda: time.time() + 3600)
    assert await pruner.prune_once() == last - 1
    assert registry.store.last_sequence() == last and pruner.pruned_total == last - 1
    assert await pruner.prune_once() == 0


# -- snapshot and bootstrap ------------------------------------------------------------


async def test_snapshot_bootstrap_copies_everything_but_the_folders_own_state(registry, replica_store):
    await populate(registry)
    registry.writer.run(lambda ctx: changelog.set_cursor(ctx, changelog.OUTBOX_CURSOR, 3))
    store, writer = replica_store
    writer.run(lambda ctx: ctx.put("identifiers", b"stale\x00x", b"gone after the bootstrap"))
    writer.run(lambda ctx: stats.add_registrations(ctx.txn, ctx.store, {("2020-01-01", b"stale"): 5}))
    writer.run(lambda ctx: stats.add_usage(ctx, datetime.date(2020, 1, 1), {("88.118.8", "dns"): [7, 1]}))
    chunks = list(rep.snapshot_chunks(registry.store, chunk_bytes=200))
    assert len(chunks) > 3 and all(not c.done for c in chunks[:-1]) and chunks[-1].done
    last = chunks[-1]
    assert last.sequence == registry.store.last_sequence()
    assert last.sequence_digest == changelog.digest(registry.store.changes_after(last.sequence - 1)[0][1])
    assert last.items_total == sum(len(c.items) for c in chunks)
    assert not any(i.db == "meta" and i.key in rep.LOCAL_META for c in chunks for i in c.items)

    writer.run(lambda ctx: rep.begin_bootstrap(ctx, {"state": "bootstrapping"}))
    assert store.get("meta", rep.BOOTSTRAP) == b"1"
    for chunk in chunks:
        writer.run(lambda ctx, c=chunk: rep.load_items(ctx, [(i.db, i.key, i.value) for i in c.items]))
    writer.run(lambda ctx: rep.finish_bootstrap(ctx, last.sequence, last.sequence_digest, {"state": "following"}))
    assert dump(store, REPLICATED) == dump(registry.store, REPLICATED)
    assert registrations(store) == registrations(registry.store)  # the primary's counters replace the replica's
    assert store.get("meta", rep.BOOTSTRAP) is None
    assert stats.usage_rows(store, datetime.date(2020, 1, 1), datetime.date(2020, 1, 1))[0]["resolutions"] == 7  # own
    assert store.meta_u64(changelog.OUTBOX_CURSOR) == 0  # the primary's cursor stays there
    assert store.last_sequence() == last.sequence  # the empty log continues after the snapshot
    assert writer.sequence == last.sequence and writer.last_digest == last.sequence_digest


# -- status ----------------------------------------------------------------------------


def test_replication_status(registry):
    store = registry.store
    assert rep.replication_status(store) is None  # a primary
    head = store.last_sequence()

    def put(**state):
        registry.writer.run(lambda ctx: rep._put_state(ctx, {"primary": "p:1", **state}))

    put(state="following", primary_sequence=head, caught_up_at=100.0, updated=100.0)
    status = rep.replication_status(store, now=101.0)
    assert status == {
        "primary": "p:1",
        "state": "following",
        "applied_sequence": head,
        "primary_sequence": head,
        "lag_sequences": 0,
        "lag_seconds": 0.0,
        "updated": 100.0,
        "error": "",
    }
    put(state="following", primary_sequence=head + 5, caught_up_at=100.0, updated=102.0)
    status = rep.replication_status(store, now=103.0)
    assert (status["lag_sequences"], status["lag_seconds"]) == (5, 3.0)
    status = rep.replication_status(store, now=102.0 + rep.STALE + 1)  # silent primary
    assert status["state"] == "disconnected" and status["lag_seconds"] == rep.STALE + 3.0
    put(state="bootstrapping", primary_sequence=head, caught_up_at=0.0, updated=100.0)
    assert rep.replication_status(store, now=110.0)["lag_seconds"] == 10.0


def test_readiness_check_of_a_replica(registry):
    check = rep.readiness_check(registry.store, max_lag=30)
    assert check() == "the replica has not reached its primary yet"
    now = time.time()
    head = registry.store.last_sequence()

    def put(**state):
        registry.writer.run(lambda ctx: rep._put_state(ctx, {"primary": "p:1", **state}))

    put(state="bootstrapping", primary_sequence=head + 9, caught_up_at=now, updated=now)
    assert check() == "bootstrapping from the primary's snapshot"
    put(state="following", primary_sequence=head, caught_up_at=now - 100, updated=now)
    assert check() is None  # nothing outstanding
    put(state="following", primary_sequence=head + 3, caught_up_at=now - 100, updated=now)
    assert check().startswith("replication lag 10") and "above --max-replica-lag 30 s" in check()
    assert "3 entries behind" in check()
    assert rep.readiness_check(registry.store, max_lag=0)() is None  # no bound


async def test_a_replica_registry_refuses_writes_naming_the_primary(tmp_path):
    store = Store(tmp_path / "r", map_size=1 << 20)
    writer = Writer(store)
    writer.start()
    try:
        registry = Registry(store, writer, "88.118", replica_of="10.0.0.1:50051")
        assert store.get("meta", b"node_prefix") is None  # an empty replica writes nothing of its own
        with pytest.raises(ServerBackup, match="10.0.0.1:50051") as refused:
            await registry.add_enterprise(ADMIN, CODE, "Enterprise", "ops@example.com")
        assert refused.value.code == 302
        with pytest.raises(ServerBackup):  # no admin credential of its own either
            await registry.ensure_admin_credential()
        # Sessions are per node (not replicated): a replica opens them for its HTTP clients.
        session, _ = await registry.open_session(ADMIN)
        assert session
        assert store.last_sequence() == 0
    finally:
        writer.stop()
        store.close()


# -- the service and the follower on loopback ----------------------------------------------


async def follower_of(registry: Registry, port: int, store: Store, writer: Writer, token: str) -> rep.Follower:
    follower = rep.Follower(store, writer, f"127.0.0.1:{port}", credential=token, backoff_cap=0.2)
    follower.start()
    return follower


async def caught_up(store: Store, primary: Store, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while store.last_sequence() != primary.last_sequence() or rep.replication_status(store)["state"] != "following":
        assert time.monotonic() < deadline, (store.last_sequence(), primary.last_sequence())
        await asyncio.sleep(0.01)


async def test_follower_follows_new_commits_and_bootstraps_after_pruning(registry, replica_store, tmp_path):
    await populate(registry)
    token = (await registry.create_token(ADMIN, "auditor", label="replica")).token
    server, port = await start_grpc_server(registry, "127.0.0.1:0")
    store, writer = replica_store
    follower = await follower_of(registry, port, store, writer, token)
    try:
        await caught_up(store, registry.store)
        assert dump(store) == dump(registry.store)
        await populate(registry, 100, 10)  # pushed as they commit
        await caught_up(store, registry.store)
        assert dump(store) == dump(registry.store)
        assert registrations(store) == registrations(registry.store)
        status = rep.replication_status(store)
        assert status["primary"] == f"127.0.0.1:{port}" and status["lag_sequences"] == 0
        deadline = time.monotonic() + 5  # counted when the writer's future reaches the loop, just after the commit
        while follower.applied_total != registry.store.last_sequence():
            assert time.monotonic() < deadline, follower.applied_total
            await asyncio.sleep(0.01)
        await follower.stop(2)

        # The primary prunes all but its head; more writes; the replica is behind retention now.
        await populate(registry, 200, 5)
        pruned = registry.writer.run(prune_op(time.time() + 10, keep_outbox=False))
        assert pruned > 0
        follower = await follower_of(registry, port, store, writer, token)
        await caught_up(store, registry.store)
        assert dump(store, REPLICATED) == dump(registry.store, REPLICATED)
        at = registry.store.last_sequence()
        assert dump(store, ("changelog",)) == {"changelog": []}  # the log continues after the snapshot
        with registry.store.begin() as txn:
            assert changelog.pruned(store) == changelog.head(registry.store, txn)
        assert registrations(store) == registrations(registry.store)  # from the snapshot
        await populate(registry, 300, 3)
        await caught_up(store, registry.store)
        assert dump(store, REPLICATED) == dump(registry.store, REPLICATED)
        assert registrations(store) == registrations(registry.store)
        today = stats.day_of(time.time(), stats.zone())
        assert stats.day_registrations(store, today) == {"88.118.8": 38}
        assert store.changes_after(0, limit=1000) == registry.store.changes_after(at, limit=1000)
    finally:
        await follower.stop(2)
        await stop_grpc_server(server, 0)


async def test_follow_refusals(registry):
    await populate(registry, count=3)
    token = (await registry.create_token(ADMIN, "auditor", label="replica")).token
    owner = (await registry.create_token(ADMIN, "enterprise", CODE, "x")).token
    server, port = await start_grpc_server(registry, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = replication_pb2_grpc.ReplicationStub(channel)
            head = registry.store.last_sequence()

            async def first(request, metadata):
                async for msg in stub.Follow(request, metadata=metadata):
                    return msg

            cases = [
                (replication_pb2.FollowRequest(from_sequence=0), token, grpc.StatusCode.INVALID_ARGUMENT),
                (replication_pb2.FollowRequest(from_sequence=head + 2), token, grpc.StatusCode.FAILED_PRECONDITION),
                (replication_pb2.FollowRequest(from_sequence=1), owner, grpc.StatusCode.PERMISSION_DENIED),
                (replication_pb2.FollowRequest(from_sequence=1), "idn1.nope.nope", grpc.StatusCode.UNAUTHENTICATED),
            ]
            for request, credential, code in cases:
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await first(request, (("authorization", f"Bearer {credential}"),))
                assert failed.value.code() == code, (request, failed.value.details())
            # A replica at the head gets a heartbeat: no entries, the head and the time.
            beat = await first(
                replication_pb2.FollowRequest(from_sequence=head + 1), (("authorization", f"Bearer {token}"),)
            )
            assert not beat.entries and beat.primary_sequence == head and abs(beat.primary_time - time.time()) < 5
            registry.writer.run(prune_op(time.time() + 10, keep_outbox=False))
            with pytest.raises(grpc.aio.AioRpcError) as gone:
                await first(replication_pb2.FollowRequest(from_sequence=1), (("authorization", f"Bearer {token}"),))
            assert gone.value.code() == grpc.StatusCode.OUT_OF_RANGE and "Snapshot" in gone.value.details()
            info = await stub.GetReplicationInfo(
                replication_pb2.ReplicationInfoRequest(), metadata=(("authorization", f"Bearer {token}"),)
            )
            assert (info.node_prefix, info.first_sequence, info.last_sequence) == ("88.118", head, head)
            assert info.pruned_sequence == head - 1
    finally:
        await stop_grpc_server(server, 0)


async def test_an_unreachable_primary_is_recorded_as_disconnected(replica_store):
    import socket

    store, writer = replica_store
    writer.run(lambda ctx: rep._put_state(ctx, {"primary": "x", "state": "following", "updated": 123.0}))
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    follower = rep.Follower(store, writer, f"127.0.0.1:{port}", credential="idn1.x.y", backoff_cap=0.1)
    follower.start()
    try:
        deadline = time.monotonic() + 10
        while rep.replication_status(store, now=124.0)["state"] != "disconnected":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        status = rep.replication_status(store, now=124.0)
        assert status["updated"] == 123.0  # when the primary last answered, not when the failure was noted
        assert status["primary"] == f"127.0.0.1:{port}" and follower.state == "disconnected"
    finally:
        await follower.stop(2)
