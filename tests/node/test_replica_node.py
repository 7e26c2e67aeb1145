"""Read replicas as real processes on loopback: a primary and two `idnode serve --replica-of` nodes
following its change log while it takes 50,000 writes; a replica SIGKILLed mid-stream resumes with
no gap and no duplicate; writes to a replica are refused (or forwarded with --forward-writes); a
replica started after the primary pruned its log bootstraps from a snapshot."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest

from idnode.proto import common_pb2, registry_pb2, replication_pb2, replication_pb2_grpc, resolver_pb2
from idnode.registry import changelog
from idnode.registry.store import Store, from_u64

from .conftest import Node, auth, checksum, setup_enterprise, wait_folder_free

BATCH = 1000


def items(first: int, count: int, tag: str = "R") -> list[registry_pb2.IdentifierWrite]:
    return [
        registry_pb2.IdentifierWrite(
            handle=f"88.118.8/{tag}-{i:06d}",
            values=[common_pb2.HandleValue(index=1, type="URL", data=b"https://r.example/%d" % i)],
        )
        for i in range(first, first + count)
    ]


def create(node: Node, token: str, first: int, count: int, tag: str = "R") -> None:
    reply = node.registry().BatchCreate(
        registry_pb2.BatchCreateRequest(items=items(first, count, tag)), metadata=auth(token), timeout=60
    )
    assert [r.response_code for r in reply.results] == [1] * count


def stats(node: Node, token: str) -> registry_pb2.Stats:
    return node.registry().GetStats(registry_pb2.StatsRequest(), metadata=auth(token), timeout=10)


def wait_caught_up(replica: Node, primary: Node, token: str, timeout: float = 60) -> registry_pb2.ReplicationStats:
    head = stats(primary, token).changelog_sequence
    deadline = time.monotonic() + timeout
    while True:
        rep = stats(replica, token).replication
        if rep.applied_sequence == head and rep.state == "following":
            return rep
        assert time.monotonic() < deadline, f"replica not caught up with {head}: {rep}"
        time.sleep(0.05)


def change_log(data_dir: Path) -> list[tuple[int, bytes]]:
    store = Store(data_dir, map_size=1 << 20, lock=False, writable=False)
    try:
        with store.begin() as txn:
            return [(from_u64(k), bytes(v)) for k, v in txn.cursor(db=store.dbs["changelog"])]
    finally:
        store.close()


class Reader(threading.Thread):
    """Resolves handles on a replica in a loop (bounded in time) while the primary writes."""

    def __init__(self, node: Node, limit: float = 120) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.limit = limit
        self.stop_event = threading.Event()
        self.found = self.not_found = 0
        self.errors: list[str] = []

    def run(self) -> None:
        deadline = time.monotonic() + self.limit
        with grpc.insecure_channel(self.node.target) as channel:
            stub = resolver_pb2_grpc_stub(channel)
            i = 0
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                handle = f"88.118.8/R-{(i * 7919) % 50000:06d}"
                i += 1
                try:
                    reply = stub.Resolve(resolver_pb2.ResolveRequest(handle=handle), timeout=10)
                    assert reply.handle == handle and reply.values[0].data.startswith(b"https://r.example/")
                    self.found += 1
                except grpc.RpcError as exc:
                    if exc.code() == grpc.StatusCode.NOT_FOUND:
                        self.not_found += 1
                    else:
                        self.errors.append(f"{exc.code().name} {exc.details()}")
                except AssertionError as exc:
                    self.errors.append(f"wrong answer for {handle}: {exc}")


def metric_samples(node: Node) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``GET /metrics`` as ``{(sample name, sorted labels): value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{node.http}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def resolver_pb2_grpc_stub(channel: grpc.Channel):
    from idnode.proto import resolver_pb2_grpc

    return resolver_pb2_grpc.ResolverStub(channel)


@pytest.fixture
def primary(tmp_path):
    node = Node(tmp_path / "primary", "--workers", "1", "--grace", "2").start()
    (tmp_path / "primary.credential").write_text(node.admin_token + "\n")
    yield node
    node.stop()


def replica_of(primary: Node, data_dir: Path, *extra: str) -> Node:
    credential = data_dir.parent / "primary.credential"
    return Node(
        data_dir, "--replica-of", primary.target, "--primary-token-file", str(credential), "--grace", "2", *extra
    )


def test_two_replicas_follow_50k_writes_survive_sigkill_and_refuse_writes(primary, tmp_path):
    token = setup_enterprise(primary, "91440300192203821", "88.118.8")
    admin = primary.admin_token
    a = replica_of(primary, tmp_path / "a", "--workers", "2").start()
    b = replica_of(primary, tmp_path / "b", "--workers", "1").start()
    readers = [Reader(a), Reader(b)]
    try:
        for reader in readers:
            reader.start()
        for n in range(50):  # 50,000 identifiers in batches of 1,000
            create(primary, token, n * BATCH, BATCH)
            if n == 20:  # replica B dies mid-stream and comes back on its folder
                readers[1].stop_event.set()
                readers[1].join()
                assert b.stop(signal.SIGKILL) == -signal.SIGKILL
                wait_folder_free(b.data_dir)
                b = replica_of(primary, tmp_path / "b", "--workers", "1", "--forward-writes").start()
                readers[1] = Reader(b)
                readers[1].start()
        head = stats(primary, admin).changelog_sequence
        for replica in (a, b):
            rep = wait_caught_up(replica, primary, admin)
            assert rep.primary == primary.target and rep.lag_sequences == 0 and rep.lag_seconds == 0
            assert rep.primary_sequence == head
    finally:
        for reader in readers:
            reader.stop_event.set()
            reader.join()
    for reader in readers:
        assert not reader.errors, reader.errors[:5]
    for replica in (a, b):  # ready: following within --max-replica-lag
        with urllib.request.urlopen(f"{replica.http}/readyz", timeout=10) as ready:
            assert ready.status == 200
    # The replication metrics (scrape-time lag from LMDB; entries applied by A's follower, from sequence 1).
    samples = metric_samples(a)
    assert samples[("idnode_replication_lag_sequences", ())] == 0
    assert samples[("idnode_replication_lag_seconds", ())] == 0
    assert samples[("idnode_replication_applied_total", ())] == head
    assert ("idnode_build_info", (("role", "replica"),)) in {
        (n, tuple((k, v) for k, v in ls if k == "role")) for n, ls in samples
    }
    assert not any(name.startswith("idnode_replication_") for name, _ in metric_samples(primary))
    assert readers[0].found > 0  # the replica served the data while it arrived

    # Both converge to the primary's identifiers byte for byte, and their change logs are the primary's.
    want = checksum(primary.data_dir)
    assert want.split()[1] == "50001"  # and the prefix handle 0.NA/88.118.8
    assert [line.split()[1:] for line in want.splitlines()[1:]] == [["1", "0.na"], ["50000", "88.118.8"]]
    assert checksum(a.data_dir) == want and checksum(b.data_dir) == want
    log = change_log(primary.data_dir)
    assert len(log) == head and log[-1][0] == head
    for replica in (a, b):
        copied = change_log(replica.data_dir)
        assert copied == log  # no gap, no duplicate: the same sequences with the same bytes
        assert changelog.verify_chain(copied, changelog.GENESIS) == head

    # A write to a replica is refused with FAILED_PRECONDITION (Handle 302) naming the primary...
    with pytest.raises(grpc.RpcError) as refused:
        create(a, token, 90000, 1)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert primary.target in refused.value.details()
    # ... and over HTTP with 409 and the same message; nothing changed.
    body = {"values": [{"index": 1, "type": "URL", "data": {"format": "string", "value": "https://x"}}]}
    request = urllib.request.Request(
        f"{a.http}/api/handles/88.118.8/R-HTTP",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as http_refused:
        urllib.request.urlopen(request, timeout=10)
    assert http_refused.value.code == 409
    answer = json.loads(http_refused.value.read())
    assert answer["responseCode"] == 302 and primary.target in answer["message"]
    assert stats(primary, admin).changelog_sequence == head

    # With --forward-writes (B since its restart) the write goes to the primary and comes back.
    create(b, token, 90000, 1)
    assert stats(primary, admin).changelog_sequence == head + 1
    wait_caught_up(b, primary, admin)
    found = b.resolver().Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/R-090000"), timeout=10)
    assert found.values[0].data == b"https://r.example/90000"
    assert b.registry().GetStats(registry_pb2.StatsRequest(), metadata=auth(admin)).replication.state == "following"

    # The primary goes away: replicas keep serving reads, say they are disconnected; a forwarded write fails.
    primary.stop()
    with pytest.raises(grpc.RpcError) as down:
        create(b, token, 90001, 1)
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE and "primary is not reachable" in down.value.details()
    deadline = time.monotonic() + 20
    while stats(b, admin).replication.state != "disconnected":
        assert time.monotonic() < deadline, stats(b, admin).replication
        time.sleep(0.05)
    again = b.resolver().Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/R-090000"), timeout=10)
    assert again.values[0].data == b"https://r.example/90000"
    a.stop()
    b.stop()


def test_replica_started_after_retention_bootstraps_from_a_snapshot(tmp_path):
    primary = Node(tmp_path / "primary", "--workers", "1", "--grace", "2", "--log-retention", "1s").start()
    replica = None
    try:
        admin = primary.admin_token
        (tmp_path / "primary.credential").write_text(admin + "\n")
        token = setup_enterprise(primary, "91440300192203821", "88.118.8")
        create(primary, token, 0, 300)
        with grpc.insecure_channel(primary.target) as channel:
            stub = replication_pb2_grpc.ReplicationStub(channel)
            deadline = time.monotonic() + 30
            while True:  # the pruner runs every 0.25 s here; the head entry always stays
                info = stub.GetReplicationInfo(replication_pb2.ReplicationInfoRequest(), metadata=auth(admin))
                if info.pruned_sequence == info.last_sequence - 1:
                    break
                assert time.monotonic() < deadline, info
                time.sleep(0.1)
            assert info.first_sequence == info.last_sequence and info.node_prefix == "88.118"
            # Following from the start is refused: those entries are gone.
            with pytest.raises(grpc.RpcError) as gone:
                next(iter(stub.Follow(replication_pb2.FollowRequest(from_sequence=1), metadata=auth(admin))))
            assert gone.value.code() == grpc.StatusCode.OUT_OF_RANGE
            # Without a node-admin or auditor credential there is no stream at all.
            with pytest.raises(grpc.RpcError) as anonymous:
                next(iter(stub.Snapshot(replication_pb2.SnapshotRequest())))
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

        replica = replica_of(primary, tmp_path / "replica", "--workers", "2").start()
        wait_caught_up(replica, primary, admin)
        assert checksum(replica.data_dir) == checksum(primary.data_dir)
        create(primary, token, 300, 50)  # then it follows
        rep = wait_caught_up(replica, primary, admin)
        assert rep.applied_sequence == stats(primary, admin).changelog_sequence
        assert checksum(replica.data_dir) == checksum(primary.data_dir)
        copied = change_log(replica.data_dir)
        assert [s for s, _ in copied] == list(range(info.last_sequence + 1, rep.applied_sequence + 1))
        # The snapshot carried the accounts too: the enterprise's token works on the replica.
        whoami = replica.registry().WhoAmI(registry_pb2.WhoAmIRequest(), metadata=auth(token), timeout=10)
        assert whoami.role == "enterprise" and list(whoami.prefixes) == ["88.118.8"]
        replica.stop()
        assert any("bootstrapping from the primary's snapshot" in line for line in replica.output)
        assert any("replica: bootstrapped" in line for line in replica.output)
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()
