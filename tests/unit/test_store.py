"""The LMDB store: folder lock, schema check, map growth, change log and writer."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from idnode import _fastpath
from idnode.registry import changelog
from idnode.registry.auth import Principal
from idnode.registry.errors import HandleNotFound, SchemaMismatch, ServerError, StorageFull, StoreLocked
from idnode.registry.model import IdentifierWrite
from idnode.registry.store import SCHEMA_VERSION, Store, u64
from idnode.registry.values import Value
from idnode.registry.writer import Writer


def test_second_open_of_a_folder_is_refused(tmp_path):
    store = Store(tmp_path, map_size=1 << 20)
    try:
        with pytest.raises(StoreLocked, match="in use by another idnode process"):
            Store(tmp_path, map_size=1 << 20)
    finally:
        store.close()
    Store(tmp_path, map_size=1 << 20).close()  # released on close


def test_schema_mismatch_is_a_clear_error(tmp_path):
    store = Store(tmp_path, map_size=1 << 20)
    with store.env.begin(write=True) as txn:
        txn.put(b"schema_version", b"99", db=store.dbs["meta"])
    store.close()
    with pytest.raises(
        SchemaMismatch, match=f"schema version 99; this idnode reads version {SCHEMA_VERSION} and has no migration"
    ):
        Store(tmp_path, map_size=1 << 20)


def test_migrations_run_at_open_in_order(tmp_path, monkeypatch):
    from idnode.registry import store as store_module

    Store(tmp_path, map_size=1 << 20).close()  # a folder of the current version
    applied = []

    def to_next(txn, store):
        applied.append(SCHEMA_VERSION + 1)
        txn.put(b"migrated", b"yes", db=store.dbs["meta"])

    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(store_module.MIGRATIONS, SCHEMA_VERSION, to_next)
    store = Store(tmp_path, map_size=1 << 20)
    try:
        assert applied == [SCHEMA_VERSION + 1] and store.schema_version == SCHEMA_VERSION + 1
        assert store.get("meta", b"migrated") == b"yes"
    finally:
        store.close()
    Store(tmp_path, map_size=1 << 20).close()
    assert applied == [SCHEMA_VERSION + 1]  # not applied twice


def test_a_migration_that_fills_the_map_runs_again_in_a_grown_map(tmp_path, monkeypatch):
    from idnode.registry import store as store_module

    Store(tmp_path, map_size=1 << 20).close()
    runs = []

    def big(txn, store):
        runs.append(store.env.info()["map_size"])
        txn.put(b"big", b"x" * 1_500_000, db=store.dbs["meta"])  # more than the 1 MiB map

    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(store_module.MIGRATIONS, SCHEMA_VERSION, big)
    store = Store(tmp_path, map_size=1 << 20)
    try:
        assert runs[0] == 1 << 20 and len(runs) >= 2 and runs[-1] > 1 << 20
        assert store.schema_version == SCHEMA_VERSION + 1
        assert len(store.get("meta", b"big")) == 1_500_000
    finally:
        store.close()


def _index(store, db):
    with store.begin() as txn:
        return sorted(bytes(k) for k in txn.cursor(db=store.dbs[db]).iternext(values=False))


async def test_version_1_gtin_index_is_rebuilt_with_gtin14_keys(tmp_path, registry_factory):
    """Version 1 keyed idx_gtin by the raw value text; version 2 by the GTIN-14 where one derives."""
    admin = Principal("node-admin", token_id="0123456789abcdef")
    registry = registry_factory()
    a = (
        Value(1, "GTIN", b"6950000000019"),
        Value(2, "SGTIN", b"urn:epc:id:sgtin:0614141.032260.6789"),
        Value(3, "GTIN", b"no-gtin"),
        Value(4, "OID", b"1.2.156.86"),
        Value(5, "GTIN", b"06950000000019"),  # the same GTIN spelt twice: one key
    )
    await registry.create(admin, IdentifierWrite("88.118/a", a))
    await registry.create(admin, IdentifierWrite("88.118/b", (Value(1, "GTIN", b"614141322602"),)))
    await registry.create(admin, IdentifierWrite("88.118/gone", (Value(1, "GTIN", b"6950000000019"),)))
    await registry.delete(admin, "88.118/gone")
    registry_factory.close_all()
    ka, kb, kgone = (_fastpath.handle_key("88.118", s) for s in ("a", "b", "gone"))

    # Turn the folder into what version 1 wrote: raw-text keys (and one stale entry of a tombstone).
    store = Store(tmp_path / "data", map_size=1 << 20)
    oid_before = _index(store, "idx_oid")
    with store.env.begin(write=True) as txn:
        txn.drop(store.dbs["idx_gtin"], delete=False)
        for text, key in (
            (b"6950000000019", ka),
            (b"urn:epc:id:sgtin:0614141.032260.6789", ka),
            (b"no-gtin", ka),
            (b"06950000000019", ka),
            (b"614141322602", kb),
            (b"6950000000019", kgone),
        ):
            txn.put(text + b"\x00" + key, b"", db=store.dbs["idx_gtin"])
        txn.put(b"schema_version", b"1", db=store.dbs["meta"])
    store.close()

    registry = registry_factory()  # opening migrates
    store = registry.store
    assert store.schema_version == SCHEMA_VERSION == 2
    assert _index(store, "idx_gtin") == sorted(
        [
            b"00614141322602\x00" + ka,
            b"00614141322602\x00" + kb,
            b"06950000000019\x00" + ka,
            b"no-gtin\x00" + ka,
        ]
    )
    assert _index(store, "idx_oid") == oid_before == [b"1.2.156.86\x00" + ka]
    assert registry.find_by("GTIN", "6950000000019") == ["88.118/a"]
    assert registry.find_by("GTIN", "614141322602") == ["88.118/a", "88.118/b"]
    assert registry.find_by("GTIN", "no-gtin") == ["88.118/a"]
    registry_factory.close_all()
    registry = registry_factory()  # a second open finds version 2: nothing to do
    assert registry.store.schema_version == 2 and len(_index(registry.store, "idx_gtin")) == 4


def test_undecodable_record_is_left_out_of_the_rebuilt_index(tmp_path, caplog):
    store = Store(tmp_path, map_size=1 << 20)
    with store.env.begin(write=True) as txn:
        txn.put(b"88.118\x00bad", b"\x07garbage", db=store.dbs["identifiers"])
        txn.put(b"garbage\x00" + b"88.118\x00bad", b"", db=store.dbs["idx_gtin"])
        txn.put(b"schema_version", b"1", db=store.dbs["meta"])
    store.close()
    store = Store(tmp_path, map_size=1 << 20)
    try:
        assert store.schema_version == SCHEMA_VERSION
        assert _index(store, "idx_gtin") == []
        assert "not decodable" in caplog.text
    finally:
        store.close()


def test_commits_are_durable_by_default(tmp_path):
    """fsync of data and meta pages at each commit, no writable map (registry/README.md, "Crash safety")."""
    store = Store(tmp_path, map_size=1 << 20)
    try:
        flags = store.env.flags()
    finally:
        store.close()
    assert (flags["sync"], flags["metasync"], flags["map_async"], flags["writemap"]) == (True, True, False, False)


def test_every_named_database_exists(tmp_path):
    store = Store(tmp_path, map_size=1 << 20)
    try:
        for name in (
            "identifiers",
            "prefixes",
            "enterprises",
            "templates",
            "credentials",
            "idx_gtin",
            "idx_oid",
            "counters",
            "changelog",
            "meta",
        ):
            assert name in store.dbs
        assert store.usage()["readers_max"] >= 2048
    finally:
        store.close()


def _put_many(n: int, size: int):
    def op(ctx):
        for i in range(n):
            key = f"k{i:08d}".encode()
            ctx.put("identifiers", key, b"x" * size)
            ctx.log(changelog.OP_CREATE, "identifiers", key, b"x" * size, "test")
        return n

    return op


def test_map_grows_instead_of_failing(tmp_path):
    store = Store(tmp_path, map_size=1 << 20)
    writer = Writer(store)
    try:
        assert writer.run(_put_many(3000, 1000)) == 3000  # ~6 MB into a 1 MiB map
        assert store.env.info()["map_size"] > 1 << 20
        with store.begin() as txn:
            assert txn.stat(store.dbs["identifiers"])["entries"] == 3000
    finally:
        store.close()


def test_a_map_at_its_cap_fails_writes_clearly_and_keeps_what_is_stored(tmp_path):
    store = Store(tmp_path, map_size=1 << 20, max_map_size=2 << 20)
    writer = Writer(store)
    try:
        assert writer.run(_put_many(500, 1000)) == 500  # ~1 MB: grows to the 2 MiB cap
        stored = store.identifiers_digest()
        head = store.last_sequence()
        with pytest.raises(StorageFull, match="cap of 2097152 bytes"):
            writer.run(_put_many(3000, 1000))  # ~6 MB
        assert StorageFull.code == 3 and store.env.info()["map_size"] == 2 << 20
        assert store.identifiers_digest() == stored and store.last_sequence() == head  # nothing of it written
        assert writer.run(lambda ctx: ctx.log(changelog.OP_PUT, "meta", b"m", b"1", "t")) == head + 1  # small fits
        store.max_map_size = 0  # the operator raised the cap
        assert writer.run(_put_many(3000, 1000)) == 3000
        assert store.env.info()["map_size"] > 2 << 20
        with store.begin() as txn:
            entries = [(int.from_bytes(k, "big"), bytes(v)) for k, v in txn.cursor(db=store.dbs["changelog"])]
        assert changelog.verify_chain(entries, changelog.GENESIS) == len(entries) == entries[-1][0]
    finally:
        store.close()


def test_group_commit_isolates_failing_operations(tmp_path):
    store = Store(tmp_path, map_size=1 << 22)
    writer = Writer(store)
    writer.start()
    gate = threading.Event()
    running = threading.Event()

    def block(ctx):
        running.set()
        return gate.wait(5)

    try:
        blocker = writer.submit(block)  # holds the thread while the rest queue up
        assert running.wait(5)

        def good(i):
            def op(ctx):
                ctx.put("meta", f"g{i}".encode(), b"1")
                return ctx.log(changelog.OP_PUT, "meta", f"g{i}".encode(), b"1", "t")

            return op

        def bad(ctx):
            ctx.put("meta", b"bad", b"1")
            ctx.log(changelog.OP_PUT, "meta", b"bad", b"1", "t")
            raise HandleNotFound("nope")

        futures = [writer.submit(good(0)), writer.submit(bad), writer.submit(good(1))]
        commits_before = writer.commits
        gate.set()
        blocker.result(5)
        assert futures[0].result(5) == 1
        with pytest.raises(HandleNotFound):
            futures[1].result(5)
        assert futures[2].result(5) == 2  # no gap left by the failed operation
        assert writer.commits == commits_before + 2  # blocker alone, then the queued three together
        assert store.get("meta", b"bad") is None
        assert store.get("meta", b"g1") == b"1"
    finally:
        writer.stop()
        store.close()


def test_unexpected_exception_becomes_server_error(tmp_path):
    store = Store(tmp_path, map_size=1 << 20)
    writer = Writer(store)
    try:
        with pytest.raises(ServerError, match="write failed: ZeroDivisionError"):
            writer.run(lambda ctx: 1 / 0)
    finally:
        store.close()


def test_change_log_chain_verifies_and_detects_tampering(tmp_path):
    store = Store(tmp_path, map_size=1 << 22)
    writer = Writer(store)
    try:
        writer.run(_put_many(50, 10))
        with store.begin() as txn:
            entries = [(int.from_bytes(k, "big"), bytes(v)) for k, v in txn.cursor(db=store.dbs["changelog"])]
        assert [s for s, _ in entries] == list(range(1, 51))
        assert changelog.verify_chain(entries, changelog.GENESIS) == 50
        entry = changelog.decode_entry(*entries[3])
        assert (entry.op_name, entry.db, entry.actor, entry.key) == ("create", "identifiers", "test", b"k00000003")
        tampered = list(entries)
        seq, raw = tampered[10]
        tampered[10] = (seq, raw[:-40] + b"y" + raw[-39:])  # change one payload byte
        with pytest.raises(changelog.ChangeLogError, match="entry 12: previous-entry digest does not match"):
            changelog.verify_chain(tampered, changelog.GENESIS)
        with pytest.raises(changelog.ChangeLogError, match="gap in the change log: expected 3, found 4"):
            changelog.verify_chain(entries[:2] + entries[3:], changelog.GENESIS)
    finally:
        store.close()


def test_writer_resumes_the_sequence_after_reopen(tmp_path):
    store = Store(tmp_path, map_size=1 << 22)
    Writer(store).run(_put_many(5, 1))
    store.close()
    store = Store(tmp_path, map_size=1 << 22)
    try:
        writer = Writer(store)
        assert writer.sequence == 5
        writer.run(lambda ctx: ctx.log(changelog.OP_PUT, "meta", b"x", b"", "t"))
        with store.begin() as txn:
            cur = txn.cursor(db=store.dbs["changelog"])
            assert cur.last() and cur.key() == u64(6)
            raws = [(int.from_bytes(k, "big"), bytes(v)) for k, v in cur.iterprev()]
        assert changelog.verify_chain(reversed(raws), changelog.GENESIS) == 6
    finally:
        store.close()


def test_reader_sees_map_grown_by_another_process(tmp_path):
    store = Store(tmp_path, map_size=1 << 20)
    script = (
        "import lmdb, sys\n"
        "env = lmdb.open(sys.argv[1], max_dbs=16, map_size=1 << 20)\n"
        "env.set_mapsize(1 << 24)\n"
        "db = env.open_db(b'meta')\n"
        "with env.begin(write=True) as txn:\n"
        "    txn.put(b'k' * 10, b'v' * 2_000_000, db=db)\n"
    )
    try:
        subprocess.run([sys.executable, "-c", script, str(tmp_path / "lmdb")], check=True, timeout=60)
        assert store.get("meta", b"k" * 10) == b"v" * 2_000_000
    finally:
        store.close()
