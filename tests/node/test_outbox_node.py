"""A real `idnode serve --top` node pushing to a real `idnode topnode serve`:
every change arrives once and in order, across a SIGKILLed top node (restarted
on the same port and data) and a SIGKILLed node (restarted on its folder)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from idnode.proto import common_pb2, registry_pb2, toplevel_pb2
from idnode.registry.store import Store

from .conftest import TopNode, auth, setup_enterprise, wait_folder_free


def decide(top: TopNode, node, prefix: str, verb: str = "approve", timeout: float = 15) -> None:
    """``idnode topnode approve|reject PREFIX`` once the node asked for it; wait until the node learnt it."""
    want = {"approve": registry_pb2.PREFIX_STATUS_APPROVED, "reject": registry_pb2.PREFIX_STATUS_REJECTED}[verb]
    command = [sys.executable, "-m", "idnode", "topnode", verb, prefix]
    command += ["--top", f"127.0.0.1:{top.port}", "--data-dir", str(top.data_dir)]
    deadline = time.monotonic() + timeout
    while subprocess.run(command, capture_output=True, text=True, timeout=30).returncode != 0:
        assert time.monotonic() < deadline, f"the node never asked the top node for {prefix}"
        time.sleep(0.1)
    admin = auth(node.admin_token)
    while True:
        listed = node.registry().ListPrefixes(registry_pb2.ListPrefixesRequest(), metadata=admin, timeout=10)
        if {p.prefix: p.status for p in listed.prefixes}.get(prefix) == want:
            return
        assert time.monotonic() < deadline, f"the node did not learn the decision on {prefix}"
        time.sleep(0.05)


def create(node, token: str, first: int, count: int) -> None:
    items = [
        registry_pb2.IdentifierWrite(
            handle=f"88.118.8/SYNC-{i:04d}",
            values=[common_pb2.HandleValue(index=1, type="URL", data=b"https://s/%d" % i)],
        )
        for i in range(first, first + count)
    ]
    results = node.registry().BatchCreate(
        registry_pb2.BatchCreateRequest(items=items), metadata=auth(token), timeout=20
    )
    assert [r.response_code for r in results.results] == [1] * count


def sync_stats(node) -> registry_pb2.SyncStats:
    return node.registry().GetStats(registry_pb2.StatsRequest(), metadata=auth(node.admin_token), timeout=10).sync


def wait_synced(node, timeout: float = 20) -> registry_pb2.SyncStats:
    deadline = time.monotonic() + timeout
    while True:
        sync = sync_stats(node)
        if sync.last_sequence and sync.lag_sequences == 0:
            return sync
        assert time.monotonic() < deadline, f"not synced: {sync}"
        time.sleep(0.05)


@pytest.mark.parametrize("workers", ["1", "2"])  # the outbox in the one process, or in the prefork writer
def test_every_change_reaches_the_top_node_once_and_in_order(node_factory, tmp_path, workers):
    top = TopNode(tmp_path / "top").start()
    data = tmp_path / "node"
    try:
        node = node_factory("--top", f"127.0.0.1:{top.port}", "--workers", workers, "--grace", "2", data_dir=data)
        assert any("pushing the change log to the top-level node" in line for line in node.output)
        token = setup_enterprise(node, "91440300192203821", "88.118.8")
        decide(top, node, "88.118.8")  # pending until the top node approves it
        create(node, token, 0, 100)
        sync = wait_synced(node)
        assert sync.top == f"127.0.0.1:{top.port}" and sync.acked_sequence == sync.last_sequence
        assert sync.lag_seconds == 0

        # The top node dies mid-stream; the node keeps its backlog and drains it once it is back.
        create(node, token, 100, 100)
        top.stop(signal.SIGKILL)
        create(node, token, 200, 100)
        lagging = sync_stats(node)
        assert lagging.lag_sequences > 0 and lagging.acked_sequence < lagging.last_sequence
        top.start()
        wait_synced(node)

        # The node dies (writer and all) mid-stream and resumes from its cursor.
        create(node, token, 300, 100)
        node.stop(signal.SIGKILL)
        wait_folder_free(data)  # the children die with the supervisor, a moment later
        node = node_factory("--top", f"127.0.0.1:{top.port}", "--workers", workers, "--grace", "2", data_dir=data)
        create(node, token, 400, 100)
        last = wait_synced(node).last_sequence
        node.stop()
    finally:
        copy = top.copy() if top.proc is not None else []
        top.stop()

    assert [c.sequence for c in copy] == list(range(1, last + 1))  # no gap, no duplicate, in order
    store = Store(data, lock=False)
    try:
        local = dict(store.changes_after(0, limit=10**6, max_bytes=1 << 40))
    finally:
        store.close()
    assert all(c.entry == local[c.sequence] for c in copy)
    handles = [c.handle for c in copy if c.kind == toplevel_pb2.CHANGE_KIND_CREATE and "SYNC-" in c.handle]
    assert handles == [f"88.118.8/SYNC-{i:04d}" for i in range(500)]


def test_top_node_killed_during_a_10000_identifier_import(node_factory, tmp_path):
    """Issue 6: SIGKILL the top-level node in the middle of an import of 10,000 identifiers, restart it, and
    every change arrives exactly once and in order."""
    top = TopNode(tmp_path / "top").start()
    try:
        node = node_factory("--top", f"127.0.0.1:{top.port}", "--workers", "2", "--grace", "2")
        token = setup_enterprise(node, "91440300192203821", "88.118.8")
        decide(top, node, "88.118.8")
        registry = node.registry()
        for batch in range(10):  # 10 x 1,000 identifiers, the way `idnode import` sends them
            items = [
                registry_pb2.IdentifierWrite(
                    handle=f"88.118.8/IMPORT-{i:05d}",
                    values=[common_pb2.HandleValue(index=1, type="URL", data=b"https://i/%d" % i)],
                )
                for i in range(batch * 1000, (batch + 1) * 1000)
            ]
            results = registry.BatchCreate(
                registry_pb2.BatchCreateRequest(items=items), metadata=auth(token), timeout=60
            ).results
            assert all(r.response_code == 1 for r in results)
            if batch == 3:
                top.stop(signal.SIGKILL)  # mid-import: the node keeps its backlog
            elif batch == 6:
                top.start()
        last = wait_synced(node, timeout=60).last_sequence
        node.stop()
    finally:
        copy = top.copy() if top.proc is not None else []
        top.stop()
    assert [c.sequence for c in copy] == list(range(1, last + 1))  # exactly once, in order
    handles = [c.handle for c in copy if c.kind == toplevel_pb2.CHANGE_KIND_CREATE and "IMPORT-" in c.handle]
    assert handles == [f"88.118.8/IMPORT-{i:05d}" for i in range(10000)]
