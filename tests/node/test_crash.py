"""A node killed with SIGKILL in the middle of writes loses no acknowledged write."""

from __future__ import annotations

import signal
import threading
import time

from idnode.proto import registry_pb2, resolver_pb2
from idnode.registry import changelog
from idnode.registry.store import Store

from .conftest import auth, create_batch, setup_enterprise, wait_folder_free


def test_sigkill_mid_import_keeps_every_acknowledged_write(node_factory):
    node = node_factory()
    token = setup_enterprise(node, "91440300192203821", "88.118.8")
    acknowledged: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        reg = node.registry()
        batch_no = 0
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline and batch_no < 500:
            handles = [f"88.118.8/K{batch_no:04d}-{i:03d}" for i in range(200)]
            results, failure = create_batch(reg, token, handles)
            if failure:
                failures.append(failure)
                return
            acknowledged.extend(r.handle for r in results if r.response_code == 1)
            batch_no += 1

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 2000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert node.proc is not None
    node.proc.send_signal(signal.SIGKILL)
    thread.join(30)
    stop.set()
    node.stop()
    wait_folder_free(node.data_dir)  # the workers and the writer die with the supervisor
    assert len(acknowledged) >= 2000, "the writer made too little progress before the kill"
    assert failures, "the in-flight batch should have failed when the node died"

    # The log is intact after the crash: continuous and its digest chain holds.
    store = Store(node.data_dir, map_size=1 << 20)
    try:
        with store.begin() as txn:
            entries = [(int.from_bytes(k, "big"), bytes(v)) for k, v in txn.cursor(db=store.dbs["changelog"])]
    finally:
        store.close()
    assert changelog.verify_chain(entries, changelog.GENESIS) == len(entries)

    again = node_factory(data_dir=node.data_dir)
    res = again.resolver()
    for start in range(0, len(acknowledged), 1000):
        chunk = acknowledged[start : start + 1000]
        results = res.BatchResolve(resolver_pb2.BatchResolveRequest(handles=chunk)).results
        missing = [r.handle for r in results if r.response_code != 1]
        assert not missing, f"acknowledged but lost: {missing[:5]}"
    stats = again.registry().GetStats(registry_pb2.StatsRequest(), metadata=auth(again.admin_token))
    assert stats.identifiers >= len(acknowledged)
