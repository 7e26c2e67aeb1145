"""Prefix approval by the top-level node (issue 6): a prefix allocated on a
node with a top node starts pending and refuses registrations (401) until the
outbox learns the top node's approval; rejected stays refused; a stand-alone
node keeps allocations usable at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from idnode.registry import _accounts
from idnode.registry.auth import Principal
from idnode.registry.errors import InsufficientPermissions
from idnode.registry.model import IdentifierWrite
from idnode.registry.uscc import check_character
from idnode.registry.values import Value
from idnode.sync.outbox import Outbox, site

topnode = pytest.importorskip("idnode.sync.topnode.server")
from idnode.proto import toplevel_pb2  # noqa: E402
from idnode.sync.topnode import TopLevel, TopStore  # noqa: E402

ADMIN = Principal("node-admin", token_id="0123456789abcdef")
CODE = "91440300192203821" + check_character("91440300192203821")
OWNER = Principal("enterprise", credit_code=CODE, token_id="fedcba9876543210")
TOP_ADMIN = "top-admin-secret"


async def _enterprise(registry) -> None:
    await registry.add_enterprise(ADMIN, CODE, "Enterprise", "ops@example.com")
    await registry.set_enterprise_status(ADMIN, CODE, "approved")


def _write(handle: str) -> IdentifierWrite:
    return IdentifierWrite(handle, (Value(1, "URL", b"https://example.com/"),))


async def until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


async def test_stand_alone_allocation_is_usable_at_once(registry):
    await _enterprise(registry)
    info = await registry.allocate_prefix(ADMIN, CODE, "88.118.8")
    assert info.status == "approved"
    assert (await registry.create(OWNER, _write("88.118.8/A"))).created


async def test_pending_and_rejected_prefixes_refuse_registrations(registry):
    registry.top = "127.0.0.1:1"
    await _enterprise(registry)
    info = await registry.allocate_prefix(ADMIN, CODE, "88.118.8")
    assert info.status == "pending"
    assert [p.status for p in registry.list_prefixes(ADMIN)] == ["pending"]
    with pytest.raises(InsufficientPermissions, match="pending approval by the top-level node") as err:
        await registry.create(OWNER, _write("88.118.8/A"))
    assert err.value.code == 401
    with pytest.raises(InsufficientPermissions):  # the node admin too
        await registry.create(ADMIN, _write("88.118.8/A"))
    assert [p["prefix"] for p in _accounts.prefixes_awaiting(registry.store)] == ["88.118.8"]

    assert await registry._write(lambda ctx: _accounts.set_prefix_status(ctx, "88.118.8", "rejected", "no", 5))
    with pytest.raises(InsufficientPermissions, match="rejected by the top-level node"):
        await registry.create(OWNER, _write("88.118.8/A"))

    assert await registry._write(lambda ctx: _accounts.set_prefix_status(ctx, "88.118.8", "approved", "", 6))
    assert not await registry._write(lambda ctx: _accounts.set_prefix_status(ctx, "88.118.8", "approved", "", 6))
    assert (await registry.create(OWNER, _write("88.118.8/A"))).created
    assert _accounts.prefixes_awaiting(registry.store) == []
    assert [p.status for p in registry.list_prefixes(ADMIN)] == ["approved"]
    # an update under a prefix revoked upstream is refused as well
    await registry._write(lambda ctx: _accounts.set_prefix_status(ctx, "88.118.8", "rejected", "revoked", 7))
    with pytest.raises(InsufficientPermissions):
        await registry.create(OWNER, _write("88.118.8/B"))


async def test_outbox_requests_approval_and_learns_the_decisions(registry, tmp_path):
    store = TopStore(tmp_path / "top")
    core = TopLevel(store, TOP_ADMIN)
    server, port = await topnode.start_topnode_server(core, "127.0.0.1:0")
    registry.top = f"127.0.0.1:{port}"
    outbox = Outbox(
        registry.store,
        registry.writer,
        registry.top,
        registry.node_prefix,
        credential="node-secret",
        sites=[site("grpc", "127.0.0.1:50051")],
        poll=0.01,
        backoff_base=0.01,
        backoff_cap=0.05,
        deadline=2.0,
        approval_poll=0.05,
    )
    try:
        await _enterprise(registry)
        await registry.allocate_prefix(ADMIN, CODE, "88.118.8")
        await registry.allocate_prefix(ADMIN, CODE, "88.118.9")
        outbox.start()

        def top_status(prefix: str) -> str:
            listed = core.list_prefixes(TOP_ADMIN, toplevel_pb2.ListPrefixApprovalsRequest())
            return {p.prefix: p.status for p in listed.prefixes}.get(prefix)

        await until(lambda: top_status("88.118.8") is not None and top_status("88.118.9") is not None)
        sites = core.resolve_prefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.8"))
        assert sites.response_code != 1  # pending: not resolved upstream yet

        core.approve_prefix(TOP_ADMIN, toplevel_pb2.PrefixDecision(prefix="88.118.8"))
        core.reject_prefix(TOP_ADMIN, toplevel_pb2.PrefixDecision(prefix="88.118.9", reason="unknown owner"))

        def local(prefix: str) -> dict:
            return registry._read_json("prefixes", prefix.encode())

        await until(lambda: local("88.118.8")["status"] == "approved" and local("88.118.9")["status"] == "rejected")
        assert local("88.118.9")["approval"]["reason"] == "unknown owner"
        assert (await registry.create(OWNER, _write("88.118.8/A"))).created
        with pytest.raises(InsufficientPermissions, match="rejected"):
            await registry.create(OWNER, _write("88.118.9/A"))
        assert core.resolve_prefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.8")).response_code == 1

        # a rejected prefix approved later upstream is learnt as well
        core.approve_prefix(TOP_ADMIN, toplevel_pb2.PrefixDecision(prefix="88.118.9"))
        await until(lambda: local("88.118.9")["status"] == "approved")
        assert (await registry.create(OWNER, _write("88.118.9/A"))).created
    finally:
        await outbox.stop(1.0)
        await server.stop(0)
        store.close()


async def test_a_refused_request_does_not_hold_up_the_push(registry, tmp_path):
    store = TopStore(tmp_path / "top")
    core = TopLevel(store, TOP_ADMIN)
    # another node (prefix 88) claimed 88.118.8 first: our request is refused
    core.register_node("other-secret", toplevel_pb2.RegisterNodeRequest(node_prefix="88"))
    core.request_prefix("other-secret", toplevel_pb2.RequestPrefixRequest(node_prefix="88", prefix="88.118.8"))
    server, port = await topnode.start_topnode_server(core, "127.0.0.1:0")
    registry.top = f"127.0.0.1:{port}"
    outbox = Outbox(
        registry.store,
        registry.writer,
        registry.top,
        registry.node_prefix,
        credential="node-secret",
        poll=0.01,
        approval_poll=0.05,
    )
    try:
        await _enterprise(registry)
        await registry.allocate_prefix(ADMIN, CODE, "88.118.8")
        outbox.start()
        last = registry.store.last_sequence()
        await until(lambda: outbox.acked_sequence == last and "88.118.8" in outbox._refused)
        assert registry._read_json("prefixes", b"88.118.8")["status"] == "pending"
    finally:
        await outbox.stop(1.0)
        await server.stop(0)
        store.close()
