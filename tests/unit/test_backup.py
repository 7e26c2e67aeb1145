"""Backup and restore (idnode/backup.py) on real LMDB folders: round trip, and every refusal changing nothing."""

from __future__ import annotations

import json
import os
import shutil

import lmdb
import pytest

from idnode import backup as bk
from idnode.registry import changelog
from idnode.registry.model import IdentifierWrite
from idnode.registry.store import Store, from_u64, lock_folder, u64
from idnode.registry.values import Value


@pytest.fixture
async def folder(seeded, registry_factory, tmp_path):
    """The seeded data folder plus 30 identifiers (one deleted) and credential files; closed
    (py-lmdb opens an environment once per process)."""
    registry, admin = seeded.registry, seeded.principals["admin"]
    for i in range(30):
        write = IdentifierWrite(f"88.118.8/B-{i:03d}", (Value(1, "URL", f"https://e.example/{i}".encode()),))
        await registry.create(admin, write)
    await registry.delete(admin, "88.118.8/B-007")
    data = registry.store.path
    (data / "admin.credential").write_text("idn1.admin.secret\n")
    (data / "top.credential").write_text("idn1.top.secret\n")
    registry_factory.close_all()
    return data


def entries(data) -> list[tuple[int, bytes]]:
    store = Store(data, map_size=1 << 20, lock=False, writable=False)
    try:
        with store.begin() as txn:
            return [(from_u64(k), bytes(v)) for k, v in txn.cursor(db=store.dbs["changelog"])]
    finally:
        store.close()


def checksum(data) -> tuple[int, str]:
    store = Store(data, map_size=1 << 20, lock=False, writable=False)
    try:
        return store.identifiers_digest()
    finally:
        store.close()


def test_round_trip(folder, tmp_path):
    manifest = bk.backup(folder, tmp_path / "b")
    assert (manifest.identifiers, manifest.checksum) == checksum(folder)
    log = entries(folder)
    assert manifest.last_sequence == log[-1][0] and manifest.last_digest == changelog.digest(log[-1][1]).hex()
    assert manifest.node_prefix == "88.118" and manifest.schema_version >= 1 and manifest.format == 1
    assert set(manifest.files) == {"lmdb/data.mdb", "admin.credential", "top.credential"}
    assert bk.Manifest.read(tmp_path / "b") == manifest
    assert oct((tmp_path / "b").stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "b" / "top.credential").stat().st_mode & 0o777) == "0o600"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind

    restored = bk.restore(tmp_path / "b", tmp_path / "new")
    assert restored == manifest
    assert not (tmp_path / "new" / "lmdb" / "lock.mdb").exists()  # recreated at start
    assert checksum(tmp_path / "new") == (manifest.identifiers, manifest.checksum)
    assert changelog.verify_chain(entries(tmp_path / "new")) == len(log)
    assert (tmp_path / "new" / "top.credential").read_text() == "idn1.top.secret\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_backup_refusals(folder, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    with pytest.raises(bk.BackupError, match="exists and is not an empty folder"):
        bk.backup(folder, tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["x"]
    with pytest.raises(bk.BackupError, match="holds no idnode data"):
        bk.backup(tmp_path / "nothing", tmp_path / "b")
    (tmp_path / "empty").mkdir()
    assert bk.backup(folder, tmp_path / "empty").identifiers == checksum(folder)[0]  # an empty folder is fine


def _unchanged(path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def taken(folder, tmp_path):
    """A backup, and a target folder holding something else (to see it is never touched by a refused restore)."""
    bk.backup(folder, tmp_path / "b")
    target = tmp_path / "target"
    target.mkdir()
    (target / "old.txt").write_text("old")
    return tmp_path / "b", target


def _refused(src, target, match, force=True):
    before = _unchanged(target)
    with pytest.raises(bk.BackupError, match=match):
        bk.restore(src, target, force=force)
    assert _unchanged(target) == before
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]


def test_restore_refuses_a_folder_in_use_or_not_empty(taken):
    src, target = taken
    _refused(src, target, "not empty .*--force replaces it", force=False)
    fd = lock_folder(target)  # what a running node holds
    try:
        _refused(src, target, "in use by another idnode process .*stop the node", force=True)
    finally:
        os.close(fd)


def test_restore_force_replaces_the_whole_folder(taken, folder):
    src, target = taken
    manifest = bk.restore(src, target, force=True)
    assert not (target / "old.txt").exists()
    assert checksum(target) == (manifest.identifiers, manifest.checksum) == checksum(folder)


def test_restore_refuses_damaged_files(taken):
    src, target = taken
    data = src / "lmdb" / "data.mdb"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    _refused(src, target, r"backup file lmdb/data\.mdb does not match the manifest")
    (src / "admin.credential").unlink()
    _refused(src, target, "backup file missing: .*admin.credential")


def _rewrite_manifest(src, **changes):
    document = json.loads((src / "manifest.json").read_text())
    document.update(changes)
    (src / "manifest.json").write_text(json.dumps(document))


def test_restore_refuses_a_manifest_that_does_not_match(taken):
    src, target = taken
    good = (src / "manifest.json").read_text()
    _rewrite_manifest(src, checksum="0" * 64)
    _refused(src, target, "identifiers checksum .* differs from the manifest's 0000")
    (src / "manifest.json").write_text(good)
    _rewrite_manifest(src, last_sequence=json.loads(good)["last_sequence"] + 1)
    _refused(src, target, "change-log head .* differs from the manifest's")
    (src / "manifest.json").write_text(good)
    _rewrite_manifest(src, node_prefix="88.200")
    _refused(src, target, "node prefix '88.118' differs from the manifest's '88.200'")
    (src / "manifest.json").write_text(good)
    files = json.loads(good)["files"] | {"../escape": {"size": 1, "sha256": "00"}}
    _rewrite_manifest(src, files=files)
    _refused(src, target, "unexpected file '../escape'")
    _rewrite_manifest(src, format=99)
    _refused(src, target, "backup format 99")
    (src / "manifest.json").unlink()
    _refused(src, target, "not an idnode backup: no manifest.json")


def test_restore_refuses_a_broken_change_log_chain(taken, tmp_path):
    """An entry altered in an otherwise consistent backup (file hashes recomputed): the chain check finds it."""
    src, target = taken
    env = lmdb.open(str(src / "lmdb"), max_dbs=20)
    db = env.open_db(b"changelog")
    with env.begin(write=True) as txn:
        raw = bytearray(txn.get(u64(5), db=db))
        raw[20] ^= 0x01  # inside the actor or key: the entry still decodes
        txn.put(u64(5), bytes(raw), db=db)
    env.close()
    (src / "lmdb" / "lock.mdb").unlink()
    document = json.loads((src / "manifest.json").read_text())
    document["files"]["lmdb/data.mdb"] = bk._file_info(src / "lmdb" / "data.mdb")
    (src / "manifest.json").write_text(json.dumps(document))
    _refused(src, target, "change log does not verify: entry 6: previous-entry digest does not match")


def test_exchange_swaps_two_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f").write_text("b")
    if not bk._exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available on this file system")
    assert (tmp_path / "a" / "f").read_text() == "b" and (tmp_path / "b" / "f").read_text() == "a"
    shutil.rmtree(tmp_path / "a")
    with pytest.raises(OSError, match="cannot exchange"):
        bk._exchange(tmp_path / "a", tmp_path / "b")


def test_an_empty_log_after_a_snapshot_keeps_its_pruned_head(folder, tmp_path):
    """A folder whose log is empty but continues from the pruned marker (a replica right after its snapshot):
    the manifest names that head, as changelog.head does, and the backup restores."""
    marker = (41, bytes(range(32)))
    env = lmdb.open(str(folder / "lmdb"), max_dbs=32, map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(b"changelog", txn=txn), delete=False)
        txn.put(changelog.PRUNED, u64(marker[0]) + marker[1], db=env.open_db(b"meta", txn=txn))
    env.close()
    manifest = bk.backup(folder, tmp_path / "b")
    assert (manifest.last_sequence, manifest.last_digest) == (marker[0], marker[1].hex())
    bk.restore(tmp_path / "b", tmp_path / "restored")
    assert checksum(tmp_path / "restored") == checksum(folder)
