"""Unit tests of the dashboard's data: registrations per day from the day counters, and shaping rows into series."""

from __future__ import annotations

import datetime
import functools
import time

import pytest

from idnode.registry import changelog
from idnode.registry.auth import ANONYMOUS, Principal
from idnode.registry.errors import AuthenticationNeeded, InvalidValue
from idnode.resolver.http.console import dashboard, i18n, operator
from idnode.sync import stats

ADMIN = Principal("node-admin", token_id="0123456789abcdef")
D = [datetime.date(2026, 11, 25) + datetime.timedelta(days=i) for i in range(5)]  # 25th .. 29th


@pytest.mark.usefixtures("registered_today")
async def test_registrations_per_day_read_the_day_counters_in_chunks(registry):
    tz = stats.zone()
    today = stats.day_of(time.time(), tz)
    week = today - datetime.timedelta(days=6)
    steps = list(stats.registrations_by_day(registry.store, week, today, tz, chunk=1))
    assert steps[:-1] == [None, None]  # one counter per (day, prefix), then the answer
    counts, complete_from = steps[-1]
    assert counts == {(today.isoformat(), "88.118.8"): 5, (today.isoformat(), "88.118.9"): 1}
    assert complete_from is None  # counted from the first write: every day is known
    # the facade: same answer; an enterprise sees its prefixes only; a day range is checked
    assert await dashboard.registrations(registry.daily_registrations(ADMIN, week, today)) == (counts, None)
    yesterday = today - datetime.timedelta(days=1)
    assert await dashboard.registrations(registry.daily_registrations(ADMIN, week, yesterday)) == ({}, None)
    with pytest.raises(InvalidValue, match="at most 366 days"):
        registry.daily_registrations(ADMIN, today, week)  # checked at the call, before any read
    with pytest.raises(InvalidValue, match="at most 366 days"):
        registry.daily_registrations(ADMIN, today - datetime.timedelta(days=400), today)
    with pytest.raises(AuthenticationNeeded):
        registry.daily_registrations(ANONYMOUS, week, today)


@pytest.mark.usefixtures("registered_today")
async def test_pruning_the_log_keeps_the_counts(registry):
    tz = stats.zone()
    today = stats.day_of(time.time(), tz)
    head = registry.store.last_sequence()
    registry.writer.run(lambda ctx: changelog.prune(ctx, time.time() + 10, head - 1))  # keep the last two entries
    assert changelog.pruned(registry.store)[0] == head - 2
    counts, complete_from = await dashboard.registrations(registry.daily_registrations(ADMIN, today, today))
    assert counts == {(today.isoformat(), "88.118.8"): 5, (today.isoformat(), "88.118.9"): 1}
    assert complete_from is None


def test_shape_sums_per_day_frontend_and_prefix():
    rows = [
        {"day": "2026-11-25", "prefix": "88.118.8", "frontend": "grpc", "resolutions": 10, "errors": 1},
        {"day": "2026-11-25", "prefix": "88.118.8", "frontend": "dns", "resolutions": 4, "errors": 0},
        {"day": "2026-11-27", "prefix": "88.118.9", "frontend": "http", "resolutions": 6, "errors": 3},
        {"day": "2026-11-29", "prefix": "88.118.8", "frontend": "grpc", "resolutions": 2, "errors": 0},
        {"day": "2026-11-20", "prefix": "88.118.8", "frontend": "grpc", "resolutions": 99, "errors": 9},  # outside
    ]
    created = {("2026-11-26", "88.118.8"): 3, ("2026-11-29", "88.118.9"): 2}
    got = dashboard.shape(D, rows, created, None)
    assert got.days == tuple(d.isoformat() for d in D)
    assert [s.name for s in got.resolutions_by_frontend] == ["grpc", "dns", "http"]
    assert [s.values for s in got.resolutions_by_frontend] == [(10, 0, 0, 0, 2), (4, 0, 0, 0, 0), (0, 0, 6, 0, 0)]
    assert [s.values for s in got.errors_by_frontend] == [(1, 0, 0, 0, 0), (0,) * 5, (0, 0, 3, 0, 0)]
    assert (got.resolutions, got.errors, got.registered) == (22, 4, 5)
    assert got.prefixes == ("88.118.8", "88.118.9")  # most resolutions first
    assert [s.values for s in got.prefix_bars] == [(12, 0), (4, 0), (0, 6)]
    assert [(s.name, s.values) for s in got.registrations_by_prefix] == [
        ("88.118.8", (0, 3, 0, 0, 0)),
        ("88.118.9", (0, 0, 0, 0, 2)),
    ]
    assert got.all_prefixes == ("88.118.8", "88.118.9") and got.complete_from == ""

    only = dashboard.shape(D, rows, created, None, prefix="88.118.9")
    assert (only.resolutions, only.errors, only.registered) == (6, 3, 2)
    assert only.prefixes == ("88.118.9",)
    assert only.all_prefixes == ("88.118.8", "88.118.9")  # the filter still offers every prefix


def test_shape_marks_days_before_the_log_as_unknown():
    created = {("2026-11-26", "88.118.8"): 3, ("2026-11-28", "88.118.8"): 1}
    got = dashboard.shape(D, [], created, datetime.date(2026, 11, 28))
    assert [s.values for s in got.registrations_by_prefix] == [(None, None, None, 1, 0)]
    assert got.registered == 1 and got.complete_from == "2026-11-28"


def test_shape_folds_small_prefixes_into_other():
    created = {("2026-11-29", f"88.118.{n}"): n for n in range(1, 11)}
    got = dashboard.shape(D, [], created, None)
    names = [s.name for s in got.registrations_by_prefix]
    assert names == [f"88.118.{n}" for n in range(10, 3, -1)] + ["other"]
    assert got.registrations_by_prefix[-1].values == (0, 0, 0, 0, 1 + 2 + 3)


def test_day_range():
    assert dashboard.day_range(D[-1], 5) == D
    assert len(dashboard.day_range(D[-1], 90)) == 90


def test_status_rows_show_sync_and_replication_lag():
    node = {
        "changelog_sequence": 12345,
        "identifiers": 10000,
        "sync": {"top": "127.0.0.1:50061", "lag_sequences": 1500, "lag_seconds": 42.4},
        "replication": {"primary": "10.0.0.1:50051", "state": "following", "lag_sequences": 3, "lag_seconds": 1.6},
        "map_used": 12 << 20,
        "map_size": 1 << 30,
        "readers_used": 3,
        "readers_max": 2048,
    }
    rows = dict(operator.status_rows(functools.partial(i18n.translate, "en"), node))
    assert rows["Change-log head"] == "12,345"
    assert rows["Upward sync"] == "to 127.0.0.1:50061: 1,500 changes behind, 42 s"
    assert rows["Replication"] == "from 10.0.0.1:50051 (following): 3 changes behind, 2 s"
    assert (rows["LMDB used"], rows["LMDB map size"], rows["LMDB readers"]) == ("12.0 MiB", "1.0 GiB", "3 / 2048")
    alone = dict(operator.status_rows(functools.partial(i18n.translate, "zh"), {"sync": {"top": ""}}))
    assert alone["向上同步"] == "独立运行（无顶级节点）" and alone["复制"] == "非只读副本"
