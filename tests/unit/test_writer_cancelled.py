"""A write whose caller gave up before it started is skipped, and the writer thread lives on."""

from __future__ import annotations

import threading

from idnode.registry.store import Store
from idnode.registry.writer import Writer


def test_cancelled_write_is_skipped_and_the_writer_survives(tmp_path):
    store = Store(tmp_path / "data", map_size=1 << 20)
    writer = Writer(store)
    writer.start()
    try:
        gate = threading.Event()
        blocker = writer.submit(lambda ctx: gate.wait(5))
        cancelled = writer.submit(lambda ctx: ctx.put("meta", b"cancelled", b"1"))
        assert cancelled.cancel()
        gate.set()
        blocker.result(5)
        assert writer.run(lambda ctx: ctx.put("meta", b"after", b"1")) is None
        assert store.get("meta", b"cancelled") is None and store.get("meta", b"after") == b"1"
    finally:
        writer.stop()
        store.close()
