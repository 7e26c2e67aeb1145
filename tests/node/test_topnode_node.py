"""A real `idnode topnode serve` process: registration, approval through the CLI, the DR push across restarts."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from idnode.client import metadata
from idnode.proto import registry_pb2, toplevel_pb2, toplevel_pb2_grpc

from .conftest import TopNode
from .test_http_tls import self_signed

pytestmark = pytest.mark.node
NODE_CREDENTIAL = "node-credential-for-tests"


@pytest.fixture
def top(tmp_path):
    node = TopNode(tmp_path / "top")
    yield node
    node.stop(signal.SIGKILL)


def stub(channel: grpc.Channel) -> toplevel_pb2_grpc.TopLevelStub:
    return toplevel_pb2_grpc.TopLevelStub(channel)


def push(channel: grpc.Channel, first: int, last: int) -> toplevel_pb2.PushAck:
    changes = [
        toplevel_pb2.Change(sequence=s, kind=toplevel_pb2.CHANGE_KIND_CREATE, handle=f"88.118.8/{s}", record=b"%d" % s)
        for s in range(first, last + 1)
    ]
    request = toplevel_pb2.PushChangesRequest(node_prefix="88.118", changes=changes)
    return stub(channel).PushChanges(request, metadata=metadata(NODE_CREDENTIAL), timeout=10)


def fetched(channel: grpc.Channel) -> list[int]:
    request = toplevel_pb2.FetchChangesRequest(node_prefix="88.118")
    return [c.sequence for c in stub(channel).FetchChanges(request, metadata=metadata(NODE_CREDENTIAL), timeout=10)]


def test_register_approve_push_and_survive_restarts(top):
    top.start()
    credential = top.data_dir / "admin.credential"
    assert stat.S_IMODE(credential.stat().st_mode) == 0o600
    with grpc.insecure_channel(top.target) as channel:
        site = toplevel_pb2.Site(protocol=toplevel_pb2.SITE_PROTOCOL_GRPC, host="127.0.0.1", port=50051)
        stub(channel).RegisterNode(
            toplevel_pb2.RegisterNodeRequest(node_prefix="88.118", sites=[site], node_id="t"),
            metadata=metadata(NODE_CREDENTIAL),
        )
        pending = stub(channel).RequestPrefix(
            toplevel_pb2.RequestPrefixRequest(node_prefix="88.118", prefix="88.118.8", credit_code="C"),
            metadata=metadata(NODE_CREDENTIAL),
        )
        assert pending.status == registry_pb2.PREFIX_STATUS_PENDING
        resolved = stub(channel).ResolvePrefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.8"))
        assert resolved.response_code == 303
        with pytest.raises(grpc.RpcError) as err:
            stub(channel).ListNodes(toplevel_pb2.ListNodesRequest(), metadata=metadata(NODE_CREDENTIAL))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

        listed = top.cli("prefixes", "--status", "pending")
        assert listed.returncode == 0, listed.stderr
        assert [p["prefix"] for p in json.loads(listed.stdout)["prefixes"]] == ["88.118.8"]
        approved = top.cli("approve", "88.118.8", "--reason", "checked")
        assert approved.returncode == 0, approved.stderr
        assert json.loads(approved.stdout)["status"] == "PREFIX_STATUS_APPROVED"
        assert stub(channel).ResolvePrefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.8")).response_code == 1
        missing = top.cli("reject", "88.118.99")
        assert missing.returncode == 1 and missing.stderr.startswith("error: NOT_FOUND")

        assert push(channel, 1, 50).highest_contiguous == 50
        stub(channel).ReportStats(
            toplevel_pb2.StatsReport(
                node_prefix="88.118",
                day="2026-11-29",
                connected_enterprises=1,
                rows=[toplevel_pb2.PrefixDayStats(prefix="88.118.8", registrations=50)],
            ),
            metadata=metadata(NODE_CREDENTIAL),
        )
    assert top.stop(signal.SIGTERM) == 0

    top.start()
    with grpc.insecure_channel(top.target) as channel:
        assert fetched(channel) == list(range(1, 51))
        assert push(channel, 51, 80).highest_contiguous == 80
    top.stop(signal.SIGKILL)  # acknowledged means committed: nothing may be lost

    top.start()
    with grpc.insecure_channel(top.target) as channel:
        assert fetched(channel) == list(range(1, 81))
        ack = push(channel, 75, 81)
        assert (ack.highest_contiguous, ack.duplicates, ack.applied) == (81, 6, 1)
    nodes = json.loads(top.cli("nodes").stdout)["nodes"]
    assert [(n["node_prefix"], int(n["highest_contiguous"]), n["prefixes"]) for n in nodes] == [("88.118", 81, 1)]
    stats = json.loads(top.cli("stats", "--day", "2026-11-29").stdout)["reports"]
    assert int(stats[0]["rows"][0]["registrations"]) == 50
    assert top.stop(signal.SIGTERM) == 0


def test_tls_when_a_certificate_is_given(tmp_path):
    cert, key = self_signed(tmp_path)
    top = TopNode(tmp_path / "top", "--tls-cert", cert, "--tls-key", key).start()
    try:
        roots = grpc.ssl_channel_credentials(Path(cert).read_bytes())
        with grpc.secure_channel(top.target, roots) as channel:
            reply = stub(channel).ResolvePrefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.8"), timeout=10)
            assert reply.response_code == 100
        with grpc.insecure_channel(top.target) as channel, pytest.raises(grpc.RpcError):
            stub(channel).ResolvePrefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.8"), timeout=5)
    finally:
        assert top.stop(signal.SIGTERM) == 0


def test_a_second_server_on_the_same_folder_fails(top):
    top.start()
    second = subprocess.run(
        [sys.executable, "-m", "idnode", "topnode", "serve", "--data-dir", str(top.data_dir)]
        + ["--grpc-listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1 and "in use" in second.stderr
