"""Issue 6 across real processes: a real `idnode topnode serve` and a real
`idnode serve --top`. A prefix allocated on the node is pending and refuses
registrations (401) until the top node's operator approves it
(`idnode topnode approve`); a rejected prefix stays refused. A wiped node is
rebuilt from the top node's DR copy (`idnode restore-from-top`) with the same
`idnode checksum`, and serves again."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import grpc
import pytest

from idnode.proto import common_pb2, registry_pb2, resolver_pb2, toplevel_pb2, toplevel_pb2_grpc
from idnode.sync import stats

from .conftest import TopNode, auth, setup_enterprise
from .test_outbox_node import decide, wait_synced


def register(node, token: str, handle: str) -> None:
    node.registry().CreateIdentifier(
        registry_pb2.IdentifierWrite(
            handle=handle, values=[common_pb2.HandleValue(index=1, type="URL", data=b"https://a/" + handle.encode())]
        ),
        metadata=auth(token),
        timeout=10,
    )


def refused(node, token: str, handle: str) -> str:
    with pytest.raises(grpc.RpcError) as err:
        register(node, token, handle)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED  # Handle 401
    return err.value.details() or ""


def test_pending_prefix_is_refused_until_the_top_node_approves(node_factory, tmp_path):
    top = TopNode(tmp_path / "top").start()
    try:
        node = node_factory("--top", f"127.0.0.1:{top.port}", "--grace", "2", data_dir=tmp_path / "node")
        token = setup_enterprise(node, "91440300192203821", "88.118.8")
        assert "pending approval by the top-level node" in refused(node, token, "88.118.8/A1")
        decide(top, node, "88.118.8")
        register(node, token, "88.118.8/A1")

        other = setup_enterprise(node, "91440300192203822", "88.118.9")
        decide(top, node, "88.118.9", "reject")
        assert "rejected by the top-level node" in refused(node, other, "88.118.9/B1")

        # the DR copy: stop and wipe the node, restore it from the top node
        for i in range(2, 20):
            register(node, token, f"88.118.8/A{i}")
        node.registry().DeleteIdentifier(
            registry_pb2.IdentifierDelete(handle="88.118.8/A3"), metadata=auth(token), timeout=10
        )
        wait_synced(node)
        node.stop()
        data = tmp_path / "node"
        original = idnode("checksum", "--data-dir", str(data)).stdout
        saved = tmp_path / "top.credential"
        shutil.copy(data / "top.credential", saved)
        shutil.copy(data / "admin.credential", tmp_path / "admin.credential")  # secrets are the operator's to keep
        shutil.rmtree(data)
        out = idnode(
            "restore-from-top",
            "--top",
            f"127.0.0.1:{top.port}",
            "--data-dir",
            str(data),
            "--node-prefix",
            "88.118",
            "--token-file",
            str(saved),
        ).stdout
        assert "identifiers (" in out and original.split()[0] in out
        assert idnode("checksum", "--data-dir", str(data)).stdout == original
        shutil.copy(tmp_path / "admin.credential", data / "admin.credential")

        node = node_factory("--top", f"127.0.0.1:{top.port}", "--grace", "2", data_dir=data)
        got = node.resolver().Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/A5"), timeout=10)
        assert got.response_code == 1
        register(node, token, "88.118.8/AFTER")  # tokens, prefixes and approvals came back too
        # at start the node reported today's registrations per prefix (read from its restored change log)
        rows = top_stats(top)
        assert rows.get("88.118.8") == 19 and "88.118.9" not in rows
        wait_synced(node)
        node.stop()
    finally:
        top.stop()


def idnode(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "idnode", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def top_stats(top: TopNode, timeout: float = 10) -> dict[str, int]:
    """Registrations per prefix the node reported for today (its last report of the day)."""
    admin = auth((top.data_dir / "admin.credential").read_text().strip())
    today = stats.day_of(time.time(), stats.zone()).isoformat()
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{top.port}") as channel:
        stub = toplevel_pb2_grpc.TopLevelStub(channel)
        while True:
            reports = stub.GetStats(toplevel_pb2.StatsQuery(node_prefix="88.118", day=today), metadata=admin).reports
            rows = {r.prefix: r.registrations for report in reports for r in report.rows}
            if rows or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)
