"""Daily statistics for the top-level node (sync/stats.py and the outbox's ReportStats)."""

from __future__ import annotations

import asyncio
import datetime
import time

import pytest

from idnode.proto import toplevel_pb2
from idnode.sync import stats
from idnode.sync.outbox import Outbox

topnode = pytest.importorskip("idnode.sync.topnode.server")
from idnode.sync.topnode import TopLevel, TopStore  # noqa: E402


def test_days_are_cut_at_midnight_in_shanghai():
    tz = stats.zone()
    start, end = stats.day_bounds(datetime.date(2026, 11, 29), tz)
    assert start == int(datetime.datetime(2026, 11, 28, 16, tzinfo=datetime.UTC).timestamp())
    assert end - start == 86400
    assert stats.day_of(start, tz) == datetime.date(2026, 11, 29)
    assert stats.day_of(start - 1, tz) == datetime.date(2026, 11, 28)
    assert stats.next_midnight(start + 5, tz) == end
    assert stats.day_bounds(datetime.date(2026, 11, 29), stats.zone("UTC"))[0] == start + 8 * 3600


@pytest.mark.usefixtures("registered_today")
async def test_day_report_counts_registrations_per_prefix_from_the_day_counters(registry):
    tz = stats.zone()
    today = stats.day_of(time.time(), tz)
    report = stats.day_report(registry.store, "88.118", today, tz)
    assert report.day == today.isoformat() and report.connected_enterprises == 1
    assert [(r.prefix, r.registrations, r.resolutions, r.errors) for r in report.rows] == [
        ("88.118.8", 5, 0, 0),
        ("88.118.9", 1, 0, 0),
    ]
    assert list(stats.day_report(registry.store, "88.118", today - datetime.timedelta(days=1), tz).rows) == []


@pytest.mark.usefixtures("registered_today")
async def test_outbox_reports_stats_at_start(registry, tmp_path):
    store = TopStore(tmp_path / "top")
    core = TopLevel(store, "top-admin")
    server, port = await topnode.start_topnode_server(core, "127.0.0.1:0")
    outbox = Outbox(registry.store, registry.writer, f"127.0.0.1:{port}", "88.118", credential="node-secret", poll=0.01)
    try:
        outbox.start()
        deadline = time.monotonic() + 10
        while not outbox.stats_reported:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        today = stats.day_of(time.time(), stats.zone()).isoformat()
        reports = core.get_stats("top-admin", toplevel_pb2.StatsQuery(node_prefix="88.118", day=today)).reports
        assert len(reports) == 1 and reports[0].connected_enterprises == 1
        assert {r.prefix: r.registrations for r in reports[0].rows} == {"88.118.8": 5, "88.118.9": 1}
    finally:
        await outbox.stop(1)
        await server.stop(0)
        store.close()
