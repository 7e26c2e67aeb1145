"""TLS on the gRPC port: ``idnode certs dev`` certificates, a node with --tls-cert/--tls-key serving gRPC and
HTTP over TLS, resolved through both (and through ``idnode id get --ca``); plaintext gRPC is refused."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import sys

import grpc
import pytest

from idnode.proto import resolver_pb2, resolver_pb2_grpc

from .conftest import setup_enterprise
from .test_dns_node import create

pytestmark = pytest.mark.node

HEAD = "91440300192203821"
HANDLE = "88.118.8/TLS-1"


def idnode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "idnode", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_grpc_and_http_over_tls_with_dev_certificates(node_factory, tmp_path, workers):
    made = idnode("certs", "dev", str(tmp_path / "certs"))
    assert made.returncode == 0, made.stderr
    certs = tmp_path / "certs"
    for name in ("ca.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem"):
        assert (certs / name).read_bytes().startswith(b"-----BEGIN")
    assert (certs / "server-key.pem").stat().st_mode & 0o077 == 0

    node = node_factory(
        "--workers", workers, "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server-key.pem")
    )
    roots = (certs / "ca.pem").read_bytes()
    secure = grpc.secure_channel(node.target, grpc.ssl_channel_credentials(roots))
    node.channels.append(secure)
    node.channel = lambda: secure  # the helpers below dial through TLS
    create(node, setup_enterprise(node, HEAD, "88.118.8"), HANDLE, "https://a.example/tls/1")

    reply = node.resolver().Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10)
    assert reply.response_code == 1 and reply.values[0].data == b"https://a.example/tls/1"

    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    conn = http.client.HTTPSConnection("localhost", node.http_port, context=context, timeout=10)
    conn.request("GET", f"/api/handles/{HANDLE}")
    answer = conn.getresponse()
    assert answer.status == 200 and json.loads(answer.read())["handle"] == HANDLE
    conn.close()

    shown = idnode("id", "get", "--node", f"localhost:{node.port}", "--ca", str(certs / "ca.pem"), HANDLE)
    assert shown.returncode == 0, shown.stderr
    assert "https://a.example/tls/1" in shown.stdout

    plain = grpc.insecure_channel(node.target)
    with pytest.raises(grpc.RpcError) as refused:
        resolver_pb2_grpc.ResolverStub(plain).Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    plain.close()

    untrusted = idnode("id", "get", "--node", f"127.0.0.1:{node.port}", HANDLE)  # plaintext client: fails cleanly
    assert untrusted.returncode != 0 and "Traceback" not in untrusted.stderr


def test_unreadable_ca_is_a_usage_error(tmp_path):
    result = idnode("id", "get", "--node", "127.0.0.1:1", "--ca", str(tmp_path / "missing.pem"), HANDLE)
    assert result.returncode == 2 and "cannot read --ca" in result.stderr
