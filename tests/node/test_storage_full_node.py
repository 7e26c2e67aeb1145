"""A node whose LMDB map is at its cap, or whose disk is full: writers get a clear error, reads go on, nothing is lost.

The map case caps the map with ``--map-size-max 2MiB``; the disk case puts the
data folder on a 6 MiB tmpfs (mounted by the test: root, as in CI) and grows
it afterwards, with no restart.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_status import rpc_status

from idnode.proto import common_pb2, registry_pb2, resolver_pb2
from idnode.registry import changelog
from idnode.registry.store import Store

from .conftest import auth, setup_enterprise

pytestmark = pytest.mark.node

PREFIX = "88.118.8"
FILLER = "https://k/" + "x" * 200 + "/{handle}"  # four of these: ~1 KB a record, a few MiB fill quickly


def _values(handle: str) -> list[common_pb2.HandleValue]:
    return [
        common_pb2.HandleValue(index=i, type="URL", data=FILLER.format(handle=handle).encode()) for i in range(1, 5)
    ]


def _batch(reg, token: str, handles: list[str]) -> tuple[bool, grpc.RpcError | None]:
    request = registry_pb2.BatchCreateRequest(
        items=[registry_pb2.IdentifierWrite(handle=h, values=_values(h)) for h in handles]
    )
    try:
        results = reg.BatchCreate(request, metadata=auth(token), timeout=30).results
    except grpc.RpcError as err:
        return False, err
    assert [r.response_code for r in results] == [1] * len(handles)
    return True, None


def _fill(node, token: str) -> tuple[list[str], grpc.RpcError, list[str]]:
    """Write batches of 200, then 20, then 1 until even one identifier does not fit.

    Returns the acknowledged handles, the last error and the handles of the last refused batch.
    """
    reg = node.registry()
    acked: list[str] = []
    error = None
    refused: list[str] = []
    n = 0
    for size in (200, 20, 1):
        for _ in range(200):  # bounded: the store is full long before
            handles = [f"{PREFIX}/F{n:05d}-{i:03d}" for i in range(size)]
            n += 1
            ok, err = _batch(reg, token, handles)
            if not ok:
                error, refused = err, handles
                break
            acked.extend(handles)
        else:
            raise AssertionError(f"batches of {size} never filled the store")
    assert error is not None and acked
    return acked, error, refused


def _assert_storage_full(error: grpc.RpcError, cause: str) -> None:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (error.code(), error.details())
    assert "the store is full" in error.details() and cause in error.details(), error.details()
    detail = common_pb2.HandleError()
    status = rpc_status.from_call(error)
    assert status is not None and status.details[0].Unpack(detail) and detail.response_code == 3


def _http_put(node, token: str, handle: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=15)
    try:
        body = json.dumps([{"index": i, "type": "URL", "data": FILLER.format(handle=handle)} for i in range(1, 5)])
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        conn.request("PUT", f"/api/handles/{handle}", body=body.encode(), headers=headers)
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def _assert_readable(node, handles: list[str]) -> None:
    res = node.resolver()
    for start in range(0, len(handles), 1000):
        chunk = handles[start : start + 1000]
        results = res.BatchResolve(resolver_pb2.BatchResolveRequest(handles=chunk)).results
        missing = [h for h, r in zip(chunk, results, strict=True) if r.response_code != 1]
        assert not missing, f"{len(missing)} acknowledged identifiers unreadable, e.g. {missing[:3]}"


def _assert_log_intact(data_dir: Path) -> None:
    store = Store(data_dir, map_size=1 << 20)
    try:
        with store.begin() as txn:
            entries = [(int.from_bytes(k, "big"), bytes(v)) for k, v in txn.cursor(db=store.dbs["changelog"])]
    finally:
        store.close()
    assert changelog.verify_chain(entries, changelog.GENESIS) == len(entries) == entries[-1][0]


def test_map_at_its_cap_refuses_writes_clearly_and_a_higher_cap_takes_them(node_factory):
    node = node_factory("--workers", "2", "--map-size-max", "2MiB", "--dns-listen", "off")
    token = setup_enterprise(node, "91440300192203821", PREFIX)
    acked, error, refused = _fill(node, token)
    _assert_storage_full(error, "--map-size-max")
    status, body = _http_put(node, token, f"{PREFIX}/HTTP-1")
    assert status == 507 and body["responseCode"] == 3 and "--map-size-max" in body["message"], (status, body)
    _assert_readable(node, acked)  # reads go on
    assert node.stop() == 0
    _assert_log_intact(node.data_dir)

    again = node_factory("--workers", "2", "--map-size-max", "64MiB", "--dns-listen", "off", data_dir=node.data_dir)
    assert _batch(again.registry(), token, refused) == (True, None)
    _assert_readable(again, acked + refused)


def _assert_no_process_died(node) -> None:
    """New label values on the full disk (routes and codes not seen before) kill no process: the metrics'
    mmapped files are not on the data disk (a SIGBUS there used to reset connections here)."""
    for path in ("/api/handles/88.118.8/NONE", "/api/handles?prefix=88.118.8&pageSize=1", "/openapi.json", "/x/y"):
        for _ in range(4):  # reach both workers
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"{node.http}{path}", timeout=10).read()
    text = urllib.request.urlopen(f"{node.http}/metrics", timeout=10).read().decode()
    restarts = [line for line in text.splitlines() if line.startswith("idnode_worker_restarts_total ")]
    assert restarts == ["idnode_worker_restarts_total 0.0"], restarts
    assert not (node.data_dir / "metrics").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MiB tmpfs at ``tmp_path/disk``, unmounted afterwards (needs root: CI runs as root)."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the full-disk test mounts a tmpfs and must run as root in CI")
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(disk)], check=True, timeout=30)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False, timeout=30)


def test_full_disk_refuses_writes_clearly_and_more_space_takes_them(node_factory, small_disk):
    node = node_factory("--workers", "2", "--dns-listen", "off", data_dir=small_disk / "data")
    token = setup_enterprise(node, "91440300192203821", PREFIX)
    acked, error, refused = _fill(node, token)
    _assert_storage_full(error, "no space left on the disk")
    status, body = _http_put(node, token, f"{PREFIX}/HTTP-1")
    assert status == 507 and body["responseCode"] == 3, (status, body)
    _assert_readable(node, acked)
    _assert_no_process_died(node)

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True, timeout=30)
    assert _batch(node.registry(), token, refused) == (True, None)  # the same node, no restart
    _assert_readable(node, acked + refused)
    assert node.proc is not None and node.proc.poll() is None
    assert node.stop() == 0
    _assert_log_intact(node.data_dir)
