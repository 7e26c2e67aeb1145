"""Per-prefix daily resolutions and errors (issue 6): the tally, the durable daily totals in LMDB
(sync/stats.py), the read API, ReportStats rows, and a folder written before the usage database existed."""

from __future__ import annotations

import datetime
import time

import pytest

from idnode import metrics
from idnode.registry.auth import Principal
from idnode.registry.errors import InvalidValue
from idnode.registry.model import IdentifierWrite
from idnode.registry.store import Store
from idnode.registry.uscc import check_character
from idnode.registry.values import Value
from idnode.registry.writer import Writer
from idnode.sync import stats

ADMIN = Principal("node-admin", token_id="0123456789abcdef")
CODE = "91440300192203821" + check_character("91440300192203821")
OWNER = Principal("enterprise", credit_code=CODE, token_id="fedcba9876543210")
DAY = datetime.date(2026, 11, 29)


def test_tally_counts_per_prefix_case_insensitively_and_bounded():
    tally = metrics.Tally()
    tally.used("88.118.8", "grpc", True)
    tally.used("88.118.8", "grpc", False)
    tally.used("88.118.A", "dns", True, 3)
    tally.used("88.118.a", "dns", False, 2)
    assert tally.take_usage() == {("88.118.8", "grpc"): [1, 1], ("88.118.a", "dns"): [3, 2]}
    assert tally.take_usage() == {}
    for n in range(metrics.MAX_USAGE_KEYS + 5):
        tally.used(f"p{n}", "http", True)
    tally.used("p0", "http", True)  # a known key still counts when the table is full
    taken = tally.take_usage()
    assert len(taken) == metrics.MAX_USAGE_KEYS and taken[("p0", "http")] == [2, 0]
    tally.give_back({("88.118.8", "grpc"): [4, 1]})
    assert tally.take_usage() == {("88.118.8", "grpc"): [4, 1]}


def test_daily_totals_add_up_and_read_back_by_day_range(tmp_path):
    store = Store(tmp_path / "data", map_size=1 << 20)
    writer = Writer(store)
    try:
        writer.run(lambda ctx: stats.add_usage(ctx, DAY, {("88.118.8", "grpc"): [5, 1], ("88.118.8", "dns"): [2, 0]}))
        writer.run(lambda ctx: stats.add_usage(ctx, DAY, {("88.118.8", "grpc"): [1, 2], ("88.118.9", "http"): [0, 4]}))
        later = DAY + datetime.timedelta(days=1)
        writer.run(lambda ctx: stats.add_usage(ctx, later, {("88.118.8", "grpc"): [7, 0], ("", "grpc"): [1, 1]}))
        writer.run(lambda ctx: stats.add_usage(ctx, later, {("88.118.8", "smtp"): [1, 1]}))  # unknown front end
        rows = stats.usage_rows(store, DAY, later)
        assert [(r["day"], r["prefix"], r["frontend"], r["resolutions"], r["errors"]) for r in rows] == [
            ("2026-11-29", "88.118.8", "dns", 2, 0),
            ("2026-11-29", "88.118.8", "grpc", 6, 3),
            ("2026-11-29", "88.118.9", "http", 0, 4),
            ("2026-11-30", "88.118.8", "grpc", 7, 0),
        ]
        assert stats.usage_rows(store, later, later, prefixes={"88.118.9"}) == []
        assert stats.day_usage(store, DAY) == {"88.118.8": (8, 3), "88.118.9": (0, 4)}
        assert stats.usage_rows(store, DAY - datetime.timedelta(days=9), DAY - datetime.timedelta(days=1)) == []
        # not change-log entries: nothing to replicate or push
        assert store.last_sequence() == 0
    finally:
        store.close()


async def test_report_and_registry_read_api(registry):
    await registry.add_enterprise(ADMIN, CODE, "Enterprise", "ops@example.com")
    await registry.set_enterprise_status(ADMIN, CODE, "approved")
    await registry.allocate_prefix(ADMIN, CODE, "88.118.8")
    await registry.create(OWNER, IdentifierWrite("88.118.8/S1", (Value(1, "URL", b"https://s/"),)))
    tz = stats.zone()
    today = stats.day_of(time.time(), tz)
    apply = stats.usage_applier(registry.writer, tz)
    apply({("88.118.8", "grpc"): [10, 2], ("88.118.8", "dns"): [5, 1], ("88.200.1", "dns"): [3, 3]}).result(10)
    report = stats.day_report(registry.store, "88.118", today, tz)
    assert [(r.prefix, r.registrations, r.resolutions, r.errors) for r in report.rows] == [
        ("88.118.8", 1, 15, 3),
        ("88.200.1", 0, 3, 3),  # resolved here through recursion: still this node's traffic
    ]
    per = {row["prefix"]: row for row in registry.stats(ADMIN)["per_prefix"]}
    assert (per["88.118.8"]["resolutions_today"], per["88.118.8"]["errors_today"]) == (15, 3)
    everything = registry.usage(ADMIN, today, today)
    assert {(r["prefix"], r["frontend"]) for r in everything} == {
        ("88.118.8", "dns"),
        ("88.118.8", "grpc"),
        ("88.200.1", "dns"),
    }
    assert {r["prefix"] for r in registry.usage(OWNER, today, today)} == {"88.118.8"}  # its own prefixes only
    with pytest.raises(InvalidValue):
        registry.usage(ADMIN, today, today - datetime.timedelta(days=1))
    with pytest.raises(InvalidValue):
        registry.usage(ADMIN, today - datetime.timedelta(days=400), today)


def test_a_folder_from_before_the_usage_database_gets_it(tmp_path):
    store = Store(tmp_path / "data", map_size=1 << 20)
    with store.env.begin(write=True) as txn:  # the previous version's folder: no "usage" database
        txn.drop(store.dbs["usage"], delete=True)
    store.close()
    store = Store(tmp_path / "data", map_size=1 << 20)  # the writer's open creates it
    try:
        Writer(store).run(lambda ctx: stats.add_usage(ctx, DAY, {("88.118.8", "http"): [1, 0]}))
        assert stats.day_usage(store, DAY) == {"88.118.8": (1, 0)}
    finally:
        store.close()
    reader = Store(tmp_path / "data", map_size=1 << 20, lock=False, writable=False)  # a reader worker's open
    try:
        assert stats.day_usage(reader, DAY) == {"88.118.8": (1, 0)}
    finally:
        reader.close()


def test_a_batch_counts_each_handle_for_its_prefix():
    tally = metrics.Tally()
    tally.used_many("grpc", ["88.118.8/A", "88.118.8/B", "88.118.8/C"], ["88.118.8/C"])  # one prefix: the fast path
    tally.used_many("grpc", ["88.118.8/A", "88.118.9/B", "bad", "88.118.9/X"], ["bad", "88.118.9/X"])
    tally.used_many("grpc", ["88.118.8/A", "88.118.8"], [])  # "88.118.8/" does not prefix the second
    tally.used_many("grpc", [], [])
    assert tally.take_usage() == {("88.118.8", "grpc"): [4, 1], ("88.118.9", "grpc"): [1, 1]}
