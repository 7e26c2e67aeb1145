"""Issue 6 across real processes: a real `idnode topnode serve` and a real
`idnode serve --top`. A prefix allocated on the node is pending and refuses
registrations (401) until the top node's operator approves it
(`idnode topnode approve`); a rejected prefix stays refused."""

from __future__ import annotations

import grpc
import pytest

from idnode.proto import common_pb2, registry_pb2

from .conftest import auth, setup_enterprise
from .test_outbox_node import TopNode, decide


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
        node.stop()
    finally:
        top.stop()
