"""Registration day counters on a real prefork node: kept by the writer process, and backfilled once at start
when the folder comes from an idnode without them (sync/stats.py)."""

from __future__ import annotations

import time

from idnode.registry.store import Store
from idnode.sync import stats
from tests.node.conftest import Node, create_batch, setup_enterprise


def counters(data_dir) -> tuple[dict[str, int], bytes | None]:
    """Today's registrations per prefix and ``registrations_from``, read from the stopped node's folder."""
    store = Store(data_dir, map_size=1 << 20)
    try:
        today = stats.day_of(time.time(), stats.zone())
        return stats.day_registrations(store, today), store.get("meta", stats.COUNTED_FROM)
    finally:
        store.close()


def forget_counters(data_dir) -> None:
    """Make the folder what an idnode without the counters left: no counter keys, no markers."""
    store = Store(data_dir, map_size=1 << 20)
    try:
        with store.env.begin(write=True) as txn:
            keys = [k for k, _ in stats.registration_items(txn, store)]
            for key in keys:
                txn.delete(key, db=store.dbs[stats.USAGE_DB])
            for key in (stats.COUNTED_SINCE, stats.COUNTED_FROM):
                txn.delete(key, db=store.dbs["meta"])
        assert keys
    finally:
        store.close()


def test_the_writer_process_counts_and_backfills_an_older_folder_once(tmp_path):
    data = tmp_path / "data"
    node = Node(data, "--workers", "2").start()
    try:
        token = setup_enterprise(node, "91440300192203821", "88.118.8")
        results, error = create_batch(node.registry(), token, [f"88.118.8/C{i}" for i in range(30)])
        assert error is None and all(r.response_code == 1 and r.created for r in results)
        results, error = create_batch(node.registry(), token, ["88.118.8/C0", "88.118.8/C30"])  # a repeat, a new one
        assert error is None and [r.created for r in results] == [False, True]
    finally:
        assert node.stop() == 0
    assert counters(data) == ({"88.118.8": 31}, b"")

    forget_counters(data)
    assert counters(data) == ({}, None)
    for _ in range(2):  # the backfill at the writer's start restores them; the second start adds nothing
        node = Node(data, "--workers", "2").start()
        assert node.stop() == 0
        assert counters(data) == ({"88.118.8": 31}, b"")  # the whole log is still there: every day known
