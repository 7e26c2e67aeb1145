"""The top-level node checks the hash chain of pushed changes and audits its DR copy (sync/topnode/service.py,
``idnode topnode audit``), over a real LMDB and real change-log entries from a node's store."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from idnode.proto import toplevel_pb2
from idnode.registry import changelog
from idnode.registry.store import Store
from idnode.registry.writer import Writer
from idnode.sync.outbox import to_change
from idnode.sync.topnode.service import FailedPrecondition, InvalidArgument, TopLevel, audit_copy
from idnode.sync.topnode.store import TopStore, dr_key

NODE = "node-secret"


@pytest.fixture
def log(tmp_path):
    """Ten real change-log entries ``(sequence, raw)`` of a node."""
    store = Store(tmp_path / "node", map_size=1 << 21)
    writer = Writer(store, clock=lambda: 1_700_000_000.0)
    for i in range(10):
        writer.run(lambda ctx, i=i: ctx.log(changelog.OP_PUT, "meta", b"k%d" % i, b"v%d" % i, "t"))
    entries = store.changes_after(0, limit=100)
    store.close()
    return entries


@pytest.fixture
def top(tmp_path):
    store = TopStore(tmp_path / "top", map_size=1 << 22)
    service = TopLevel(store, "admin-secret", clock=lambda: 1_700_000_000)
    service.register_node(NODE, toplevel_pb2.RegisterNodeRequest(node_prefix="88.118", node_id="n1"))
    yield service
    store.close()


def push(top, changes):
    return top.push_changes(NODE, toplevel_pb2.PushChangesRequest(node_prefix="88.118", changes=changes))


def ack(top) -> int:
    with top.store.read() as txn:
        return top.store.ack(txn, "88.118")


def test_a_continuous_chain_is_stored_across_calls(top, log):
    assert push(top, [to_change(s, r) for s, r in log[:4]]).highest_contiguous == 4
    assert push(top, [to_change(s, r) for s, r in log[4:]]).highest_contiguous == 10
    copy = audit_copy(top.store, "88.118")
    assert copy.broken is None and copy.checked == 10
    assert copy.last == (10, changelog.digest(log[-1][1]))  # equals the node's own head digest


def test_a_forked_history_is_refused_and_nothing_of_the_call_is_stored(top, log):
    push(top, [to_change(s, r) for s, r in log[:5]])
    # the node's entry 6 rewritten: another history after 5 (say a restore from an old backup, then new writes)
    forged = changelog.encode_entry(changelog.OP_PUT, "meta", 1_700_000_000, "t", b"other", b"x", bytes(32))
    with pytest.raises(FailedPrecondition, match="chain break at sequence 6"):
        push(top, [to_change(6, forged), *(to_change(s, r) for s, r in log[6:])])
    assert ack(top) == 5
    with top.store.read() as txn:
        assert txn.get(dr_key("88.118", 6), db=top.store.dbs["dr"]) is None
    assert push(top, [to_change(s, r) for s, r in log[5:]]).highest_contiguous == 10  # the real one goes on


def test_a_first_change_must_follow_genesis(top, log):
    with pytest.raises(FailedPrecondition, match="chain break at sequence 1"):
        push(top, [to_change(1, log[1][1])])  # entry 2's bytes as sequence 1: it links to entry 1, not genesis


def test_a_change_that_differs_from_its_entry_or_does_not_decode(top, log):
    altered = to_change(*log[0])
    altered.record = b"not what the entry says"
    with pytest.raises(InvalidArgument, match="change 1: key, record, db or time differ"):
        push(top, [altered])
    broken = to_change(*log[0])
    broken.entry = log[0][1][:-1]
    with pytest.raises(InvalidArgument, match="change 1: entry 1: truncated"):
        push(top, [broken])
    assert ack(top) == 0


def test_changes_without_entry_bytes_are_stored_unchecked(top, log):
    legacy = toplevel_pb2.Change(sequence=1, record=b"r1")
    assert push(top, [legacy, to_change(*log[1])]).highest_contiguous == 2


def topnode_audit(folder, *args) -> tuple[int, str]:
    """``idnode topnode audit`` in its own process (as beside the serving top node, which holds the folder)."""
    done = subprocess.run(
        [sys.executable, "-m", "idnode", "topnode", "audit", "88.118", "--data-dir", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_topnode_audit_reports_the_copy_and_a_tampered_copy(tmp_path, top, log):
    push(top, [to_change(s, r) for s, r in log])
    folder = tmp_path / "top"
    code, out = topnode_audit(folder, "--json")
    report = json.loads(out)
    assert code == 0, out
    assert (report["ok"], report["checked"], report["last_digest"]) == (True, 10, changelog.digest(log[-1][1]).hex())
    with top.store.write() as txn:  # someone edits the DR copy's change 4 on disk
        change = to_change(*log[3])
        flipped = bytearray(change.entry)
        flipped[-33] ^= 1
        change.entry = bytes(flipped)
        txn.put(dr_key("88.118", 4), change.SerializeToString(), db=top.store.dbs["dr"])
    code, out = topnode_audit(folder, "--json")
    report = json.loads(out)
    assert code == 1
    assert (report["break"]["sequence"], report["break"]["kind"]) == (5, "digest mismatch")
    code, out = topnode_audit(folder)
    assert code == 1 and "BREAK at sequence 5: digest mismatch" in out
    assert topnode_audit(tmp_path / "none")[0] == 2
