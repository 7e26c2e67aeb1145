"""``idnode audit verify`` beside a serving node and ``idnode topnode audit`` beside a serving top node: both
walk the same chain to the same head digest; a tampered copy of the node's folder shows its exact break."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from idnode.registry.store import Store, u64

from .conftest import TopNode, setup_enterprise
from .test_outbox_node import create, decide, wait_synced


def run_json(*args: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "idnode", *args, "--json"], capture_output=True, text=True, timeout=60)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_node_and_top_node_audits_agree_and_tampering_shows(node_factory, tmp_path):
    top = TopNode(tmp_path / "top").start()
    data = tmp_path / "node"
    try:
        node = node_factory("--top", top.target, "--workers", "1", "--grace", "2", data_dir=data)
        token = setup_enterprise(node, "91440300192203821", "88.118.8")
        decide(top, node, "88.118.8")
        create(node, token, 0, 30)
        last = wait_synced(node).last_sequence
        code, local = run_json("audit", "verify", "--data-dir", str(data))  # the node is serving
        assert code == 0 and local["ok"], local
        assert (local["checked"], local["last_sequence"], local["anchor_sequence"]) == (last, last, 0)
        code, copy = run_json("topnode", "audit", "88.118", "--data-dir", str(top.data_dir))  # so is the top node
        assert code == 0 and copy["ok"], copy
        assert (copy["last_sequence"], copy["last_digest"]) == (last, local["last_digest"])
        node.stop()
    finally:
        top.stop()

    tampered = tmp_path / "tampered"
    shutil.copytree(data, tampered, ignore=shutil.ignore_patterns("node.lock"))
    store = Store(tampered)
    with store.env.begin(write=True) as txn:
        raw = bytearray(txn.get(u64(3), db=store.dbs["changelog"]))
        raw[-33] ^= 0x40  # the last payload byte of entry 3
        txn.put(u64(3), bytes(raw), db=store.dbs["changelog"])
    store.close()
    code, report = run_json("audit", "verify", "--data-dir", str(tampered))
    assert code == 1 and report["break"]["sequence"] == 4 and report["break"]["kind"] == "digest mismatch"
    assert report["last_sequence"] == 3
