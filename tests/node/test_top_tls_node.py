"""Mutual TLS between a prefork node and `idnode topnode serve --tls-client-ca`: the outbox pushes and asks for
approval over it, `idnode restore-from-top` fetches over it, and a node trusting the wrong CA keeps serving
and says why it cannot sync."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import grpc
import pytest

from idnode.proto import common_pb2, registry_pb2, toplevel_pb2, toplevel_pb2_grpc
from idnode.registry.store import Store

from .conftest import TopNode, auth, setup_enterprise

pytestmark = pytest.mark.node


def top_stub(top: TopNode, pki) -> tuple[grpc.Channel, toplevel_pb2_grpc.TopLevelStub]:
    creds = grpc.ssl_channel_credentials(pki.ca.read_bytes(), pki.client_key.read_bytes(), pki.client_cert.read_bytes())
    channel = grpc.secure_channel(top.target, creds)
    return channel, toplevel_pb2_grpc.TopLevelStub(channel)


def last_sequence(data_dir) -> int:
    store = Store(data_dir, map_size=1 << 20, lock=False, writable=False)
    try:
        return store.last_sequence()
    finally:
        store.close()


def idnode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "idnode", *args], capture_output=True, text=True, timeout=120)


def test_sync_and_restore_over_mutual_tls(tmp_path, node_factory, tls_pki):
    pki = tls_pki
    top = TopNode(
        tmp_path / "top",
        *("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)),
        *("--tls-client-ca", str(pki.ca)),
    ).start()
    tls_flags = ("--top-ca", str(pki.ca), "--top-cert", str(pki.client_cert), "--top-key", str(pki.client_key))
    try:
        a = node_factory(
            "--node-prefix", "88.118", "--top", top.target, *tls_flags, "--workers", "2", data_dir=tmp_path / "a"
        )
        token = setup_enterprise(a, "91350100M000100Y4", "88.118.8")
        admin = auth((tmp_path / "top" / "admin.credential").read_text().strip())
        channel, stub = top_stub(top, pki)
        with channel:
            deadline = time.monotonic() + 30
            while True:  # the outbox asks for the prefix over TLS
                listed = stub.ListPrefixes(toplevel_pb2.ListPrefixApprovalsRequest(), metadata=admin, timeout=5)
                if any(p.prefix == "88.118.8" for p in listed.prefixes):
                    break
                assert time.monotonic() < deadline, "node A never asked the top node for 88.118.8"
                time.sleep(0.1)
            plain = top.cli("approve", "88.118.8")  # the operator commands need the TLS files too
            assert plain.returncode == 1 and "UNAVAILABLE" in plain.stderr, plain.stderr
            approved = top.cli("approve", "88.118.8", *tls_flags)
            assert approved.returncode == 0 and '"status": "PREFIX_STATUS_APPROVED"' in approved.stdout, approved
            write = registry_pb2.IdentifierWrite(
                handle="88.118.8/TLS-1", values=[common_pb2.HandleValue(index=1, type="URL", data=b"https://t/1")]
            )
            while True:  # A learns the approval over TLS
                try:
                    a.registry().CreateIdentifier(write, metadata=auth(token), timeout=10)
                    break
                except grpc.RpcError:
                    assert time.monotonic() < deadline, "node A never learnt the approval"
                    time.sleep(0.1)
            head = last_sequence(tmp_path / "a")
            while True:  # every change reaches the DR copy over TLS
                request = toplevel_pb2.FetchChangesRequest(node_prefix="88.118")
                copy = list(stub.FetchChanges(request, metadata=admin, timeout=10))
                if copy and copy[-1].sequence == head:
                    break
                assert time.monotonic() < deadline, f"DR copy at {copy[-1].sequence if copy else 0}, A at {head}"
                time.sleep(0.1)
        assert [c.sequence for c in copy] == list(range(1, head + 1))
        assert a.stop() == 0
        expected = idnode("checksum", "--data-dir", str(tmp_path / "a")).stdout.split()[0]

        without = idnode(  # the top node requires a client certificate
            "restore-from-top", "--top", top.target, "--top-ca", str(pki.ca), "--node-prefix", "88.118",
            "--data-dir", str(tmp_path / "refused"), "--token-file", str(tmp_path / "a" / "top.credential"),
        )  # fmt: skip
        assert without.returncode == 1 and "may require a client certificate" in without.stderr, without.stderr
        restored = idnode(
            "restore-from-top", "--top", top.target, *tls_flags, "--node-prefix", "88.118",
            "--data-dir", str(tmp_path / "restored"), "--token-file", str(tmp_path / "a" / "top.credential"),
        )  # fmt: skip
        assert restored.returncode == 0, restored.stderr
        assert f"checksum {expected}" in restored.stdout
    finally:
        top.stop()


def test_a_wrong_ca_is_reported_and_the_node_keeps_serving(tmp_path, node_factory, tls_pki):
    pki = tls_pki
    top = TopNode(tmp_path / "top", "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)).start()
    try:
        b = node_factory(
            "--node-prefix", "88.200", "--top", top.target, "--top-ca", str(pki.wrong_ca), "--workers", "1",
            data_dir=tmp_path / "b",
        )  # fmt: skip
        time.sleep(2.0)  # the outbox's first attempts (it logs the first failure of an outage)
        assert b.proc is not None and b.proc.poll() is None
        b.registry().WhoAmI(registry_pb2.WhoAmIRequest(), metadata=auth(b.admin_token), timeout=10)
        assert b.stop(signal.SIGTERM) == 0
    finally:
        top.stop()
    lines = [line for line in b.output if "outbox: top-level node" in line]
    assert len(lines) == 1, b.output
    assert "check --top-ca against the top-level node's certificate" in lines[0]
    missing = idnode(
        "serve", "--top", top.target, "--top-ca", str(tmp_path / "none.pem"), "--data-dir", str(tmp_path / "c"),
        "--grpc-listen", "127.0.0.1:0", "--http-listen", "off", "--dns-listen", "off",
    )  # fmt: skip
    assert missing.returncode == 1 and f"cannot read --top-ca {tmp_path / 'none.pem'}" in missing.stderr
