"""`idnode restore-from-top` (sync/restore.py): the DR copy pushed by the outbox
replays into an empty folder with identical identifiers (checksum), change
log, indexes and counters; a non-empty folder and a broken chain are refused."""

from __future__ import annotations

import asyncio
import time

import pytest

from idnode.registry import changelog
from idnode.registry.auth import Principal
from idnode.registry.errors import StoreError
from idnode.registry.model import IdentifierUpdate, IdentifierWrite
from idnode.registry.store import Store
from idnode.registry.uscc import check_character
from idnode.registry.values import Value
from idnode.sync.outbox import Outbox
from idnode.sync.restore import replay, restore_from_top

topnode = pytest.importorskip("idnode.sync.topnode.server")
from idnode.sync.topnode import TopLevel, TopStore  # noqa: E402

ADMIN = Principal("node-admin", token_id="0123456789abcdef")
CODE = "91440300192203821" + check_character("91440300192203821")
OWNER = Principal("enterprise", credit_code=CODE, token_id="fedcba9876543210")


def dump(store: Store) -> dict[str, list[tuple[bytes, bytes]]]:
    with store.begin() as txn:
        return {
            name: [(bytes(k), bytes(v)) for k, v in txn.cursor(db=store.dbs[name])]
            for name in store.dbs
            if name not in ("meta", "sessions")
        }


async def test_restore_rebuilds_the_folder_from_the_dr_copy(registry, tmp_path):
    await registry.add_enterprise(ADMIN, CODE, "Enterprise", "ops@example.com")
    await registry.set_enterprise_status(ADMIN, CODE, "approved")
    await registry.allocate_prefix(ADMIN, CODE, "88.118.8")
    for i in range(30):
        values = (Value(1, "URL", b"https://x/%d" % i), Value(2, "GTIN", b"0614141%06d" % i))
        await registry.create(OWNER, IdentifierWrite(f"88.118.8/R-{i:03d}", values))
    await registry.update(OWNER, IdentifierUpdate("88.118.8/R-001", "modify", (Value(1, "URL", b"https://changed/"),)))
    await registry.delete(OWNER, "88.118.8/R-002")

    store = TopStore(tmp_path / "top")
    core = TopLevel(store, "top-admin")
    server, port = await topnode.start_topnode_server(core, "127.0.0.1:0")
    outbox = Outbox(registry.store, registry.writer, f"127.0.0.1:{port}", "88.118", credential="node-secret", poll=0.01)
    try:
        outbox.start()
        last = registry.store.last_sequence()
        deadline = time.monotonic() + 10
        while outbox.acked_sequence < last:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await outbox.stop(1)
        target = tmp_path / "restored"
        result = await asyncio.to_thread(restore_from_top, f"127.0.0.1:{port}", target, "88.118", "node-secret")
        with pytest.raises(StoreError, match="not empty"):
            await asyncio.to_thread(restore_from_top, f"127.0.0.1:{port}", target, "88.118", "top-admin")
    finally:
        await outbox.stop(0)
        await server.stop(0)
        store.close()

    assert result.changes == last and result.last_sequence == last
    assert (result.identifiers, result.digest) == registry.store.identifiers_digest()
    assert result.live == 30 and result.deleted == 1  # 30 + the prefix handle 0.na/88.118.8, one deleted
    restored = Store(target)
    try:
        assert dump(restored) == dump(registry.store)  # identifiers, indexes, counters, the change log itself
        assert restored.get("meta", b"node_prefix") == b"88.118"
        assert restored.meta_u64(changelog.OUTBOX_CURSOR) == last
    finally:
        restored.close()


def test_replay_refuses_a_broken_chain(registry, tmp_path):
    registry.writer.run(lambda ctx: registry._put(ctx, "meta", b"x", b"1", "t"))
    registry.writer.run(lambda ctx: registry._put(ctx, "meta", b"y", b"2", "t"))
    entries = registry.store.changes_after(0, limit=100)
    target = Store(tmp_path / "new")
    try:
        with pytest.raises(changelog.ChangeLogError):
            replay(target, [entries[0], entries[2]])
        with pytest.raises(changelog.ChangeLogError):
            replay(target, [entries[1]])
    finally:
        target.close()
