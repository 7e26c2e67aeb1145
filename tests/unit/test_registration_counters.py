"""Registrations per day and prefix as durable counters (sync/stats.py, registry/writer.py): counted in the
creating transaction once per group, never for a rolled-back or repeated creation, cut at midnight in
Asia/Shanghai, backfilled once from the change log of an older store, recounted by a restore."""

from __future__ import annotations

import datetime

import lmdb
import pytest

from idnode import _fastpath
from idnode.registry import changelog
from idnode.registry.auth import Principal
from idnode.registry.errors import HandleError, InvalidValue
from idnode.registry.model import IdentifierWrite
from idnode.registry.service import Registry
from idnode.registry.store import Store
from idnode.registry.uscc import check_character
from idnode.registry.values import Value
from idnode.registry.writer import Writer, _Job
from idnode.sync import restore, stats

ADMIN = Principal("node-admin", token_id="0123456789abcdef")
CODE = "91440300192203821" + check_character("91440300192203821")
OWNER = Principal("enterprise", credit_code=CODE, token_id="fedcba9876543210")
URL = (Value(1, "URL", b"https://s/"),)
# 2026-11-28 23:59:59 and 2026-11-29 00:00:00 in Asia/Shanghai (UTC+8)
BEFORE_MIDNIGHT = datetime.datetime(2026, 11, 28, 15, 59, 59, tzinfo=datetime.UTC).timestamp()
MIDNIGHT = BEFORE_MIDNIGHT + 1
DAY1, DAY2 = datetime.date(2026, 11, 28), datetime.date(2026, 11, 29)


class Clock:
    def __init__(self, now: float = MIDNIGHT + 3600) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def node(tmp_path):
    """Open (and reopen) a registry over one folder with a settable clock; closes what it opened."""
    opened: list[tuple[Store, Writer]] = []

    def open_node(clock: Clock, *, count: bool = True, start: bool = True, tz=None) -> Registry:
        store = opened[0][0] if opened else Store(tmp_path / "data", map_size=1 << 22)
        writer = Writer(store, clock=clock, count_registrations=count, stats_tz=tz)
        if start:
            writer.start()
        opened.append((store, writer))
        return Registry(store, writer, "88.118")

    yield open_node
    for _, writer in reversed(opened):
        writer.stop()
    if opened:
        opened[0][0].close()


async def seed(registry: Registry) -> None:
    await registry.add_enterprise(ADMIN, CODE, "Enterprise", "ops@example.com")
    await registry.set_enterprise_status(ADMIN, CODE, "approved")
    for prefix in ("88.118.8", "88.118.9"):
        await registry.allocate_prefix(ADMIN, CODE, prefix)


def counts(store: Store, day: datetime.date) -> dict[str, int]:
    return stats.day_registrations(store, day)


def create_op(registry: Registry, handle: str, values=URL):
    item = registry._prepare(handle, values, "", need_values=True)
    return lambda ctx: registry._create_one(ctx, OWNER, item, {}, {})


async def test_a_group_counts_its_creations_once_per_day_and_prefix(node, monkeypatch):
    clock = Clock()
    registry = node(clock, start=False)  # no thread: _run_group runs the jobs here, as one group
    await seed(registry)
    calls = []
    real = stats.add_registrations
    monkeypatch.setattr(stats, "add_registrations", lambda txn, store, c: (calls.append(dict(c)), real(txn, store, c)))
    jobs = [_Job(create_op(registry, f"88.118.8/G{i}")) for i in range(3)] + [_Job(create_op(registry, "88.118.9/G"))]
    registry.writer._run_group(jobs)
    assert all(job.future.result().created for job in jobs)
    assert calls == [{("2026-11-29", b"88.118.8"): 3, ("2026-11-29", b"88.118.9"): 1}]  # one update per prefix
    assert counts(registry.store, DAY2) == {"88.118.8": 3, "88.118.9": 1}
    # the counter and the creations are in the same commit: a group counting nothing writes no counter
    registry.writer._run_group([_Job(lambda ctx: ctx.put("meta", b"x", b"1"))])
    assert len(calls) == 1


async def test_an_aborted_transaction_counts_nothing(node):
    registry = node(Clock(), start=False)
    await seed(registry)

    def create_then_fail(ctx):  # the operation rolls back alone (a nested transaction)
        create_op(registry, "88.118.8/A1")(ctx)
        raise InvalidValue("failed after creating")

    ok, failed = _Job(create_op(registry, "88.118.8/A2")), _Job(create_then_fail)
    registry.writer._run_group([ok, failed])
    assert ok.future.result().created and isinstance(failed.future.exception(), InvalidValue)
    assert counts(registry.store, DAY2) == {"88.118.8": 1}

    def create_then_break(ctx):  # the whole group's transaction fails: nothing of it is written
        create_op(registry, "88.118.8/A3")(ctx)
        raise lmdb.DiskError("disk broke")

    jobs = [_Job(create_op(registry, "88.118.9/A4")), _Job(create_then_break)]
    registry.writer._run_group(jobs)
    assert all(isinstance(job.future.exception(), HandleError) for job in jobs)
    assert registry.store.get("identifiers", _fastpath.handle_key("88.118.9", "A4")) is None
    assert counts(registry.store, DAY2) == {"88.118.8": 1}


async def test_a_repeat_does_not_count_and_a_creation_after_delete_does(node):
    registry = node(Clock())
    await seed(registry)
    assert (await registry.create(OWNER, IdentifierWrite("88.118.8/R", URL))).created
    assert not (await registry.create(OWNER, IdentifierWrite("88.118.8/R", URL))).created  # identical repeat
    assert counts(registry.store, DAY2) == {"88.118.8": 1}
    await registry.delete(OWNER, "88.118.8/R")
    assert counts(registry.store, DAY2) == {"88.118.8": 1}
    assert (await registry.create(OWNER, IdentifierWrite("88.118.8/R", URL))).created  # re-created
    assert counts(registry.store, DAY2) == {"88.118.8": 2}


async def test_a_batch_with_mixed_outcomes_counts_only_its_creations(node):
    registry = node(Clock())
    await seed(registry)
    await registry.create(OWNER, IdentifierWrite("88.118.8/OLD", URL))
    other = (Value(1, "URL", b"https://other/"),)
    outcomes = await registry.batch_create(
        OWNER,
        [
            IdentifierWrite("88.118.8/NEW1", URL),
            IdentifierWrite("88.118.8/OLD", URL),  # identical repeat: success, not a creation
            IdentifierWrite("88.118.8/OLD", other),  # 101 exists with different values
            IdentifierWrite("88.118.7/X", URL),  # prefix not allocated
            InvalidValue("could not decode"),
            IdentifierWrite("88.118.9/NEW2", URL),
        ],
    )
    codes = [(o.code, o.created) for o in outcomes]
    assert codes == [(1, True), (1, False), (101, False), (401, False), (202, False), (1, True)]
    assert counts(registry.store, DAY2) == {"88.118.8": 2, "88.118.9": 1}


async def test_days_are_cut_at_midnight_in_shanghai(node):
    clock = Clock(BEFORE_MIDNIGHT)
    registry = node(clock)
    await seed(registry)
    await registry.create(OWNER, IdentifierWrite("88.118.8/LATE", URL))
    clock.now = MIDNIGHT
    await registry.create(OWNER, IdentifierWrite("88.118.8/EARLY", URL))
    assert counts(registry.store, DAY1) == {"88.118.8": 1}
    assert counts(registry.store, DAY2) == {"88.118.8": 1}
    # the same two instants are one day in UTC (a node configured so)
    assert stats.per_day({(BEFORE_MIDNIGHT, b"p"): 1, (MIDNIGHT, b"p"): 1}, stats.zone("UTC")) == {
        ("2026-11-28", b"p"): 2
    }
    assert stats.per_day({(BEFORE_MIDNIGHT, b"p"): 1, (MIDNIGHT, b"p"): 2}, stats.zone()) == {
        ("2026-11-28", b"p"): 1,
        ("2026-11-29", b"p"): 2,
    }


async def write_old_store(node, clock: Clock) -> Registry:
    """A store as an idnode without the counters left it: creations on two days, no counter, no marker."""
    clock.now = BEFORE_MIDNIGHT - 60
    old = node(clock, count=False)
    await seed(old)
    for i in range(3):
        await old.create(OWNER, IdentifierWrite(f"88.118.8/D1-{i}", URL))
    clock.now = MIDNIGHT + 60
    for i in range(2):
        await old.create(OWNER, IdentifierWrite(f"88.118.9/D2-{i}", URL))
    assert old.store.get("meta", stats.COUNTED_SINCE) is None and counts(old.store, DAY1) == {}
    old.writer.stop()
    return old


async def test_the_backfill_of_an_older_store_runs_once(node):
    clock = Clock()
    await write_old_store(node, clock)
    registry = node(clock)  # the upgraded node's writer
    await registry.create(OWNER, IdentifierWrite("88.118.9/LIVE", URL))  # counted live, before the backfill ran
    tz = stats.zone()
    *_, (_, complete_from) = stats.registrations_by_day(registry.store, DAY1, DAY2, tz)
    assert complete_from == DAY2 + datetime.timedelta(days=1)  # backfill pending: only after counting began
    assert stats.backfill_registrations(registry.store, registry.writer) == 5
    assert counts(registry.store, DAY1) == {"88.118.8": 3}
    assert counts(registry.store, DAY2) == {"88.118.9": 3}  # two backfilled + the live one, not counted twice
    assert registry.store.get("meta", stats.COUNTED_FROM) == b""  # the whole log was there
    assert stats.backfill_registrations(registry.store, registry.writer) == 0  # once
    await registry.create(OWNER, IdentifierWrite("88.118.9/LIVE2", URL))
    assert counts(registry.store, DAY2) == {"88.118.9": 4}
    *_, (found, complete_from) = stats.registrations_by_day(registry.store, DAY1, DAY2, tz)
    assert complete_from is None and found == {("2026-11-28", "88.118.8"): 3, ("2026-11-29", "88.118.9"): 4}


async def test_a_backfill_after_pruning_leaves_the_pruned_days_unknown(node):
    clock = Clock()
    old = await write_old_store(node, clock)
    pruner = node(clock, count=False)
    day1 = sum(1 for _, raw in old.store.changes_after(0, limit=1000) if changelog.peek(raw)[2] < MIDNIGHT)
    assert pruner.writer.run(lambda ctx: changelog.prune(ctx, MIDNIGHT, old.store.last_sequence())) == day1 > 3
    pruner.writer.stop()
    registry = node(clock)
    assert stats.backfill_registrations(registry.store, registry.writer) == 2
    assert counts(registry.store, DAY1) == {}
    assert counts(registry.store, DAY2) == {"88.118.9": 2}
    *_, (_, complete_from) = stats.registrations_by_day(registry.store, DAY1, DAY2, stats.zone())
    assert complete_from == DAY2 + datetime.timedelta(days=1)  # day 2's oldest retained entry may not be its first


async def test_a_fresh_store_needs_no_backfill(node):
    registry = node(Clock())
    await seed(registry)
    assert registry.store.get("meta", stats.COUNTED_FROM) == b""
    assert stats.backfill_registrations(registry.store, registry.writer) == 0


async def test_restore_from_the_log_recounts_every_day(node, tmp_path):
    clock = Clock(BEFORE_MIDNIGHT)
    registry = node(clock)
    await seed(registry)
    await registry.create(OWNER, IdentifierWrite("88.118.8/D1", URL))
    clock.now = MIDNIGHT
    await registry.batch_create(OWNER, [IdentifierWrite(f"88.118.9/D2-{i}", URL) for i in range(3)])
    target = Store(tmp_path / "restored", map_size=1 << 22)
    try:
        restore.replay(target, registry.store.changes_after(0, limit=100_000), batch=4)
        for day in (DAY1, DAY2):
            assert counts(target, day) == counts(registry.store, day)
        assert counts(target, DAY2) == {"88.118.9": 3}
        assert target.get("meta", stats.COUNTED_FROM) == b""
        assert stats.counted_from(target, stats.zone()) is None
    finally:
        target.close()
