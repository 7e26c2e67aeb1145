"""Replica admission on a real node: a read replica that has not reached its primary refuses resolves
(gRPC UNAVAILABLE, HTTP 503, DNS SERVFAIL) instead of answering from partial data; health stays alive."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.request

import dns.message
import dns.query
import dns.rcode
import grpc
import pytest

from idnode.proto import resolver_pb2
from idnode.resolver.dns import names

from .conftest import setup_enterprise
from .test_dns_node import create

pytestmark = pytest.mark.node

HANDLE = "88.118.8/P-1"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_replica_before_reaching_its_primary_refuses_resolves(node_factory, tmp_path, workers):
    # A replica seeded with a copy of a folder (a backup, say) whose primary is not reachable yet: it
    # starts (the folder names its prefix) but has never heard from the primary, so its data may be partial.
    primary = node_factory("--workers", "1", data_dir=tmp_path / "primary")
    create(primary, setup_enterprise(primary, "91440300192203821", "88.118.8"), HANDLE, "https://a.example/p/1")
    assert primary.stop() == 0
    shutil.copytree(tmp_path / "primary", tmp_path / "replica")
    credential = tmp_path / "primary.credential"
    credential.write_text("idn1.0123456789abcdef.not-a-real-secret\n")
    replica = node_factory(
        *("--workers", workers, "--replica-of", f"127.0.0.1:{closed_port()}", "--primary-token-file", str(credential)),
        data_dir=tmp_path / "replica",
    )
    with pytest.raises(grpc.RpcError) as refused:
        replica.resolver().Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "has not reached its primary" in refused.value.details()

    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(f"{replica.http}/api/handles/{HANDLE}", timeout=10)
    assert answered.value.code == 503
    assert json.loads(answered.value.read())["responseCode"] == 3
    with urllib.request.urlopen(f"{replica.http}/healthz", timeout=10) as alive:
        assert alive.status == 200

    query = dns.message.make_query(names.handle_to_name(HANDLE), "NAPTR")
    assert dns.query.udp(query, "127.0.0.1", port=replica.dns_port, timeout=5).rcode() == dns.rcode.SERVFAIL
    assert dns.query.tcp(query, "127.0.0.1", port=replica.dns_port, timeout=5).rcode() == dns.rcode.SERVFAIL
