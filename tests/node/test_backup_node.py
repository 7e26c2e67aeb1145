"""`idnode backup` of a prefork node while a stream of writes goes on, `idnode restore` into a fresh folder, and a
node started on the restored folder; the refusals of `idnode restore` against a running node."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from idnode.proto import registry_pb2, resolver_pb2
from idnode.registry import changelog
from idnode.registry.store import Store, from_u64

from .conftest import auth, create_batch, setup_enterprise

pytestmark = pytest.mark.node

BATCH = 100
MAX_BATCHES = 200  # the writer stops after this many batches or when told to


def idnode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "idnode", *args], capture_output=True, text=True, timeout=120)


def test_backup_during_writes_restores_to_the_manifest_checksum(node_factory, tmp_path):
    node = node_factory("--workers", "2", data_dir=tmp_path / "data")
    token = setup_enterprise(node, "91440300192203821", "88.118.8")
    reg = node.registry()
    stop = threading.Event()
    written: list[int] = []  # batches acknowledged
    failures: list[str] = []

    def write() -> None:
        for batch in range(MAX_BATCHES):
            if stop.is_set():
                return
            results, failure = create_batch(reg, token, [f"88.118.8/BK-{batch:04d}-{i:03d}" for i in range(BATCH)])
            if failure:
                failures.append(failure)
                return
            if any(r.response_code != 1 for r in results):
                failures.append(f"batch {batch} rejected")
                return
            written.append(batch)

    base = int(idnode("checksum", "--data-dir", str(tmp_path / "data")).stdout.split()[1])  # before the stream
    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while len(written) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = len(written)
        done = idnode("backup", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "data"))
        after = len(written)
    finally:
        stop.set()
        writer.join(60)
    assert done.returncode == 0, done.stderr
    assert not failures and before >= 5
    assert after > before, "no write was acknowledged while the backup ran"
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    # Taken while writes went on: whole batches (each is one transaction), at least those acknowledged before
    # it started, at most those acknowledged after it ended and the one in flight.
    batches, partial = divmod(manifest["identifiers"] - base, BATCH)
    assert partial == 0 and before <= batches <= after + 1, (base, before, after, manifest["identifiers"])
    assert f"checksum {manifest['checksum']}" in done.stdout

    # The node keeps serving; restoring onto its folder is refused and changes nothing.
    refused = idnode("restore", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "data"), "--force")
    assert refused.returncode == 1 and "in use by another idnode process" in refused.stderr
    reply = node.resolver().Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/BK-0000-000"), timeout=10)
    assert reply.response_code == 1
    live = idnode("checksum", "--data-dir", str(tmp_path / "data")).stdout
    assert int(live.split()[1]) == base + BATCH * len(written)

    restored = idnode("restore", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "restored"))
    assert restored.returncode == 0, restored.stderr
    assert "chain and checksum verified" in restored.stdout
    check = idnode("checksum", "--data-dir", str(tmp_path / "restored"))
    assert check.stdout.split()[:2] == [manifest["checksum"], str(manifest["identifiers"])]
    store = Store(tmp_path / "restored", map_size=1 << 20, lock=False, writable=False)
    try:  # the restored change log verifies and ends where the manifest says
        with store.begin() as txn:
            log = [(from_u64(k), bytes(v)) for k, v in txn.cursor(db=store.dbs["changelog"])]
    finally:
        store.close()
    assert changelog.verify_chain(log) == len(log) and log[-1][0] == manifest["last_sequence"]

    again = idnode("restore", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "restored"))
    assert again.returncode == 1 and "not empty" in again.stderr and "--force" in again.stderr

    node.stop()
    second = node_factory("--workers", "1", data_dir=tmp_path / "restored")
    reply = second.resolver().Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/BK-0000-099"), timeout=10)
    assert (reply.response_code, reply.values[0].data) == (1, b"https://k/88.118.8/BK-0000-099")
    assert (tmp_path / "restored" / "admin.credential").read_text() == (
        tmp_path / "data" / "admin.credential"
    ).read_text()
    second.registry().WhoAmI(registry_pb2.WhoAmIRequest(), metadata=auth(second.admin_token), timeout=10)


def test_restore_errors_from_the_command_line(tmp_path):
    missing = idnode("restore", str(tmp_path / "nowhere"), "--data-dir", str(tmp_path / "d"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (tmp_path / "empty").mkdir()
    not_backup = idnode("restore", str(tmp_path / "empty"), "--data-dir", str(tmp_path / "d"))
    assert not_backup.returncode == 1 and "not an idnode backup: no manifest.json" in not_backup.stderr
    no_data = idnode("backup", str(tmp_path / "b"), "--data-dir", str(tmp_path / "empty"))
    assert no_data.returncode == 1 and "holds no idnode data" in no_data.stderr
    assert not (tmp_path / "d").exists() and not (tmp_path / "b").exists()
