"""``idnode audit verify`` (idnode/audit.py, registry/changelog.py walk_chain) on real tampered LMDB copies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from idnode.cli import main
from idnode.registry import changelog
from idnode.registry.store import Store, u64
from idnode.registry.writer import Writer
from idnode.sync.retention import prune_op


@pytest.fixture
def folder(tmp_path):
    """A data folder whose log holds sequences 1..12 (times 1000..1011); the node is stopped."""
    store = Store(tmp_path / "data", map_size=1 << 21)
    now = [1000.0]
    writer = Writer(store, clock=lambda: now[0])
    for i in range(12):
        now[0] = 1000.0 + i
        writer.run(lambda ctx, i=i: ctx.log(changelog.OP_PUT, "meta", b"k%d" % i, b"value %d" % i, "t"))
    store.close()
    return tmp_path / "data"


def audit(folder, *extra):
    result = CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(folder), *extra])
    return result.exit_code, result.output


def tampered(folder, tmp_path, change):
    """A copy of ``folder`` with ``change(txn, dbs)`` applied (the original stays as it was)."""
    copy = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
    shutil.copytree(folder, copy)
    store = Store(copy, map_size=1 << 21)
    with store.env.begin(write=True) as txn:
        change(txn, store.dbs)
    store.close()
    return copy


def raw_entries(folder):
    store = Store(folder, lock=False, writable=False)
    try:
        return store.changes_after(0, limit=100)
    finally:
        store.close()


def test_an_intact_log_verifies(folder):
    code, out = audit(folder)
    assert code == 0, out
    assert "checked 12 entries from genesis" in out and out.rstrip().endswith("chain ok")
    code, out = audit(folder, "--json")
    report = json.loads(out)
    last = raw_entries(folder)[-1]
    assert (code, report["ok"], report["checked"], report["last_sequence"]) == (0, True, 12, 12)
    assert report["last_digest"] == changelog.digest(last[1]).hex() and report["break"] is None


def test_a_flipped_byte_is_reported_at_the_next_entry(folder, tmp_path):
    entries = raw_entries(folder)
    seq, raw = entries[4]  # sequence 5
    flipped = bytearray(raw)
    flipped[-33] ^= 0x01  # the last payload byte: the entry still decodes
    copy = tampered(folder, tmp_path, lambda txn, dbs: txn.put(u64(seq), bytes(flipped), db=dbs["changelog"]))
    code, out = audit(copy, "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert report["break"] == {
        "sequence": 6,
        "kind": "digest mismatch",
        "expected": changelog.digest(bytes(flipped)).hex(),
        "found": changelog.digest(raw).hex(),
        "message": "entry 6: previous-entry digest does not match",
    }
    assert (report["checked"], report["last_sequence"]) == (5, 5)
    code, out = audit(copy)
    assert code == 1 and "BREAK at sequence 6: digest mismatch" in out


def test_a_deleted_entry_is_a_gap(folder, tmp_path):
    copy = tampered(folder, tmp_path, lambda txn, dbs: txn.delete(u64(8), db=dbs["changelog"]))
    code, out = audit(copy, "--json")
    report = json.loads(out)
    assert code == 1
    assert (report["break"]["sequence"], report["break"]["kind"]) == (9, "gap")
    assert (report["break"]["expected"], report["break"]["found"]) == ("8", "9")
    assert report["last_sequence"] == 7


def test_a_deleted_first_entry_is_a_gap_from_genesis(folder, tmp_path):
    copy = tampered(folder, tmp_path, lambda txn, dbs: txn.delete(u64(1), db=dbs["changelog"]))
    report = json.loads(audit(copy, "--json")[1])
    assert report["break"]["kind"] == "gap" and (report["break"]["expected"], report["break"]["found"]) == ("1", "2")


def test_an_undecodable_entry(folder, tmp_path):
    copy = tampered(folder, tmp_path, lambda txn, dbs: txn.put(u64(3), b"\x01\x04", db=dbs["changelog"]))
    code, out = audit(copy, "--json")
    report = json.loads(out)
    assert code == 1
    assert report["break"]["kind"] == "undecodable entry" and report["break"]["sequence"] == 3
    assert report["break"]["found"] == "entry 3: malformed"


def test_a_rewritten_history_is_caught_at_the_first_entry(folder, tmp_path):
    """Replacing entry 1 by a well-formed entry (its own genesis link intact) still breaks the link to 2."""
    forged = changelog.encode_entry(changelog.OP_PUT, "meta", 1000, "mallory", b"k0", b"forged", changelog.GENESIS)
    copy = tampered(folder, tmp_path, lambda txn, dbs: txn.put(u64(1), forged, db=dbs["changelog"]))
    report = json.loads(audit(copy, "--json")[1])
    assert (report["break"]["sequence"], report["break"]["kind"]) == (2, "digest mismatch")


def test_pruned_logs_verify_from_the_marker_and_a_bad_marker_is_a_break(folder, tmp_path):
    store = Store(folder, map_size=1 << 21)
    writer = Writer(store, clock=lambda: 5000.0)
    assert writer.run(prune_op(1004.5, keep_outbox=False)) == 5  # sequences 1..5 go
    store.close()
    code, out = audit(folder, "--json")
    report = json.loads(out)
    assert code == 0, out
    assert (report["anchor_sequence"], report["checked"], report["last_sequence"]) == (5, 7, 12)
    assert "after pruned entry 5" in audit(folder)[1]

    def forge_marker(txn, dbs):
        txn.put(changelog.PRUNED, u64(5) + b"\x07" * 32, db=dbs["meta"])

    report = json.loads(audit(tampered(folder, tmp_path, forge_marker), "--json")[1])
    assert report["break"]["sequence"] == 6 and report["break"]["kind"] == "digest mismatch"
    assert report["break"]["expected"] == "07" * 32


def test_audit_runs_beside_a_node_holding_the_lock(folder):
    holder = Store(folder, map_size=1 << 21)  # takes the folder lock, as a running node does
    try:
        Writer(holder).run(lambda ctx: ctx.log(changelog.OP_PUT, "meta", b"more", b"v", "t"))
        done = subprocess.run(
            [sys.executable, "-m", "idnode", "audit", "verify", "--data-dir", str(folder), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["last_sequence"] == 13
    finally:
        holder.close()


def test_a_folder_without_data(tmp_path):
    code, out = audit(tmp_path / "nothing")
    assert code == 2 and "holds no idnode data" in out
