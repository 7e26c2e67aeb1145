"""TLS on node-to-node gRPC links, with `idnode certs dev` certificates: a replica follows a primary that requires
client certificates on its replication port (--forward-writes over it too); a replica without a certificate, with one
from another CA or trusting the wrong CA is refused, says why once in its log and in /readyz; recursion reaches an
owning node serving TLS with --peer-ca and fails clearly without it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest

from idnode.proto import registry_pb2, replication_pb2, replication_pb2_grpc, resolver_pb2
from idnode.registry.store import Store
from idnode.resolver.grpc import handle_error_from_rpc

from .conftest import Node, TopNode, auth, setup_enterprise, url_writes
from .test_hierarchy_node import HANDLE, URL, approve_on_top, create_when_allowed

pytestmark = pytest.mark.node

REPLICATION_READY = re.compile(r"replication listening on [^ ]+:(\d+)")


def idnode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "idnode", *args], capture_output=True, text=True, timeout=120)


def dev_certs(folder: Path) -> Path:
    made = idnode("certs", "dev", str(folder))
    assert made.returncode == 0, made.stderr
    return folder


def over_tls(node: Node, certs: Path) -> Node:
    """Make the node's client helpers dial it over TLS, trusting the development CA."""
    secure = grpc.secure_channel(node.target, grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes()))
    node.channels.append(secure)
    node.channel = lambda: secure  # type: ignore[method-assign]
    return node


def head(data_dir: Path) -> int:
    store = Store(data_dir, map_size=1 << 20, lock=False, writable=False)
    try:
        return store.last_sequence()
    finally:
        store.close()


def checksum(data_dir: Path) -> str:
    done = idnode("checksum", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[0]


def wait_for(condition, what, timeout: float = 30) -> None:
    """Poll ``condition`` until true; ``what`` (text, or a function giving it) names it in the failure."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.1)


def readyz(node: Node) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{node.http}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_replica_follows_a_primary_over_mutual_tls_and_is_refused_without_a_good_certificate(tmp_path, node_factory):
    certs, other = dev_certs(tmp_path / "certs"), dev_certs(tmp_path / "other")
    primary = node_factory(
        *("--workers", "2", "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server-key.pem")),
        *("--replication-listen", "127.0.0.1:0", "--replication-client-ca", str(certs / "ca.pem")),
        data_dir=tmp_path / "primary",
    )
    over_tls(primary, certs)
    repl_port = int(next(m.group(1) for line in primary.output if (m := REPLICATION_READY.search(line))))
    token = setup_enterprise(primary, "91350100M000100Y4", "88.118.8")
    reg = primary.registry()
    admin = auth(primary.admin_token)
    auditor = reg.CreateToken(registry_pb2.CreateTokenRequest(role="auditor", label="replica"), metadata=admin).token
    token_file = tmp_path / "replica.token"
    token_file.write_text(auditor + "\n")
    items = url_writes([f"88.118.8/M-{i}" for i in range(50)])
    reg.BatchCreate(registry_pb2.BatchCreateRequest(items=items), metadata=auth(token), timeout=30)

    # The public port serves every client, but not replication: that needs the client-certificate port.
    info = replication_pb2_grpc.ReplicationStub(primary.channel())
    with pytest.raises(grpc.RpcError) as refused:
        info.GetReplicationInfo(replication_pb2.ReplicationInfoRequest(), metadata=auth(auditor), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "--replication-listen" in refused.value.details()

    common = ("--replica-of", f"127.0.0.1:{repl_port}", "--primary-token-file", str(token_file), "--workers", "1")
    good = ("--primary-ca", str(certs / "ca.pem"), "--primary-cert", str(certs / "client.pem"))
    good += ("--primary-key", str(certs / "client-key.pem"))
    replica_dir = tmp_path / "replica"
    replica = node_factory(*common, *good, "--forward-writes", data_dir=replica_dir)
    wait_for(lambda: head(replica_dir) == head(tmp_path / "primary"), "the replica to catch up")
    # --forward-writes goes over the same mutual TLS; the write comes back through the follower
    replica.registry().CreateIdentifier(url_writes(["88.118.8/FWD"])[0], metadata=auth(token), timeout=10)
    resolver = replica.resolver()

    def forwarded() -> bool:
        try:
            reply = resolver.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/FWD"), timeout=10)
        except grpc.RpcError as err:  # UNAVAILABLE until the replica's admission flag refreshes (each second)
            assert err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND), err
            return False
        return reply.response_code == 1

    wait_for(forwarded, "the forwarded write to come back to the replica")
    wait_for(lambda: head(replica_dir) == head(tmp_path / "primary"), "the replica to catch up")
    assert checksum(replica_dir) == checksum(tmp_path / "primary")
    assert replica.stop() == 0

    refusals = [  # (flags, what the replica's log line and readiness say)
        (("--primary-ca", str(certs / "ca.pem")), "the primary may require a client certificate: see --primary-cert"),
        (
            ("--primary-ca", str(certs / "ca.pem"), "--primary-cert", str(other / "client.pem"))
            + ("--primary-key", str(other / "client-key.pem")),
            "it may not trust this one: check --primary-cert",
        ),
        (
            ("--primary-ca", str(other / "ca.pem"), "--primary-cert", str(certs / "client.pem"))
            + ("--primary-key", str(certs / "client-key.pem")),
            "check --primary-ca against the primary's certificate",
        ),
    ]
    for flags, why in refusals:
        replica = node_factory(*common, *flags, "--max-replica-lag", "1", data_dir=replica_dir)

        seen: list[tuple[int, dict]] = []

        def says_why(replica: Node = replica, why: str = why, seen: list = seen) -> bool:
            seen.append(readyz(replica))
            return seen[-1][0] == 503 and any(why in problem for problem in seen[-1][1]["problems"])

        wait_for(says_why, lambda why=why, seen=seen: f"/readyz to say {why!r} (last: {seen[-1:]})")
        time.sleep(1.0)  # more attempts, with backoff: still one log line for the outage
        assert replica.stop() == 0
        lines = [line for line in replica.output if "replica: primary" in line]
        assert len(lines) == 1 and why in lines[0], replica.output

    reg.CreateIdentifier(url_writes(["88.118.8/LATER"])[0], metadata=auth(token), timeout=10)
    node_factory(*common, *good, data_dir=replica_dir)  # a good certificate again: it catches up
    wait_for(lambda: head(replica_dir) == head(tmp_path / "primary"), "the replica to catch up again")
    assert checksum(replica_dir) == checksum(tmp_path / "primary")


def test_recursion_reaches_an_owning_node_serving_tls_with_peer_ca(tmp_path, node_factory):
    certs = dev_certs(tmp_path / "certs")
    top = TopNode(tmp_path / "top").start()
    try:
        a = node_factory(
            *("--node-prefix", "88.118", "--top", top.target, "--workers", "1"),
            *("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server-key.pem")),
            data_dir=tmp_path / "a",
        )
        over_tls(a, certs)
        token = setup_enterprise(a, "91350100M000100Y4", "88.118.8")
        approve_on_top(top, a, "88.118.8")
        create_when_allowed(a, token)
        b = node_factory(
            *("--node-prefix", "88.200", "--top", top.target, "--workers", "1", "--peer-ca", str(certs / "ca.pem")),
            data_dir=tmp_path / "b",
        )
        reply = b.resolver().Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10)
        assert (reply.response_code, reply.non_authoritative) == (1, True)
        assert reply.values[0].data == URL.encode()

        c = node_factory(
            "--node-prefix", "88.201", "--top", top.target, "--workers", "1", data_dir=tmp_path / "c"
        )  # fmt: skip
        with pytest.raises(grpc.RpcError) as failed:
            c.resolver().Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=20)
        error = handle_error_from_rpc(failed.value)
        assert error is not None and error.code == 301, failed.value.details()
        assert f"grpcs://127.0.0.1:{a.port}" in error.message
        assert "check --peer-ca against the owning node's certificate" in error.message
        assert c.stop() == 0
        assert sum("recursion: owning node" in line for line in c.output) == 1, c.output
    finally:
        top.stop()
