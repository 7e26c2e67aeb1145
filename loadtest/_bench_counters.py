"""The registration day counters' cost on the write path: group-committed creations with the counters on and off.

``idnode bench --reg-counter-only``: in this process, Store + Writer +
Registry on a fresh data folder per run (the demo enterprise and prefix, as
the load step sets them up), ``--import-rows`` new identifiers from the data
generator written with ``batch_create`` of 1000, 4 in flight (as ``idnode
import`` sends them, so the writer groups them), once with the writer's
``count_registrations`` on and once off, alternating which goes first, for
``--rounds`` rounds. Each run records rows/s, the bench process's CPU
seconds (the writer thread is in it) and the CPU the rest of the machine
used meanwhile; a run with > 0.25 core busy elsewhere is flagged
``contended`` and left out of the medians. Every outcome must be a creation.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from idnode.loadtest import _bench_report as report
from idnode.loadtest import datagen
from idnode.loadtest._bench_proc import system_busy_seconds, tree_cpu_seconds

BATCH = 1000
IN_FLIGHT = 4
CONTENDED = 0.25  # cores busy outside the bench process


async def _one(folder: Path, rows: int, seed: int, prefix: str, node_prefix: str, count: bool) -> dict[str, Any]:
    from idnode.registry.service import Registry
    from idnode.registry.store import Store
    from idnode.registry.writer import Writer
    from idnode.sync import stats

    store = Store(folder, map_size=max(1 << 30, rows * 4096))
    writer = Writer(store, count_registrations=count)
    try:
        registry = Registry(store, writer, node_prefix)
        writer.start()
        enterprise = registry.authenticate(await datagen.prepare_registry(registry, prefix))
        batches = [list(datagen.generate(min(BATCH, rows - s), prefix, seed, s)) for s in range(0, rows, BATCH)]
        commits0, first = writer.commits, time.time()
        ours0, machine0, wall0 = tree_cpu_seconds(os.getpid()), system_busy_seconds(), time.monotonic()
        created = 0
        for start in range(0, len(batches), IN_FLIGHT):
            answers = await asyncio.gather(
                *(registry.batch_create(enterprise, b) for b in batches[start : start + IN_FLIGHT])
            )
            created += sum(1 for outcomes in answers for o in outcomes if o.created)
        wall = time.monotonic() - wall0
        ours = tree_cpu_seconds(os.getpid()) - ours0
        others = max(system_busy_seconds() - machine0 - ours, 0.0)
        days = {stats.day_of(when, stats.zone()) for when in (first, time.time())}  # a run may cross midnight
        counted = sum(stats.day_registrations(store, day).get(prefix, 0) for day in days)
        return {
            "counters": "on" if count else "off",
            "rows": rows,
            "created": created,
            "elapsed": wall,
            "rate": rows / wall if wall > 0 else 0.0,
            "cpu": ours,
            "cpu_per_row_us": ours / rows * 1e6,
            "others_cores": others / wall if wall > 0 else 0.0,
            "groups": writer.commits - commits0,
            "counted": counted,
        }
    finally:
        writer.stop()
        store.close()


def run(work: Path, rows: int, rounds: int, seed: int, prefix: str, node_prefix: str) -> dict[str, Any]:
    """Interleaved runs with the counters on and off; medians, the on/off ratios and every run."""
    runs: list[dict[str, Any]] = []
    load0 = os.getloadavg()
    for n in range(rounds):
        order = (True, False) if n % 2 == 0 else (False, True)
        for count in order:
            folder = work / f"counters-{n}-{'on' if count else 'off'}"
            try:
                run_ = asyncio.run(_one(folder, rows, seed, prefix, node_prefix, count))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            flags = []
            if run_["created"] != rows:
                flags.append("errors")
            if count and run_["counted"] != rows:
                flags.append("miscounted")
            if run_["others_cores"] > CONTENDED:
                flags.append("contended")
            run_["round"], run_["flags"] = n, flags
            runs.append(run_)
    out: dict[str, Any] = {"rows": rows, "rounds": rounds, "batch": BATCH, "in_flight": IN_FLIGHT, "runs": runs}
    for mode in ("on", "off"):
        good = [r for r in runs if r["counters"] == mode and not r["flags"]]
        pick = good or [r for r in runs if r["counters"] == mode]
        out[f"{mode}_rows_per_s"] = statistics.median(r["rate"] for r in pick)
        out[f"{mode}_cpu_per_row_us"] = statistics.median(r["cpu_per_row_us"] for r in pick)
        out[f"{mode}_groups"] = statistics.median(r["groups"] for r in pick)
        out[f"{mode}_from_flagged_only"] = not good
    out["on_vs_off"] = report.ratio(out["on_rows_per_s"], out["off_rows_per_s"])
    out["cpu_on_vs_off"] = report.ratio(out["on_cpu_per_row_us"], out["off_cpu_per_row_us"])
    out["loadavg"] = [load0, os.getloadavg()]
    out["flagged_runs"] = sum(1 for r in runs if r["flags"])
    out["counted_ok"] = all(r["counted"] == r["rows"] for r in runs if r["counters"] == "on")
    return out


def render(fig: dict[str, Any], markdown: bool = False) -> str:
    """The part as a table (plain text or Markdown) with its header line and notes."""
    rows = [
        ["counters on", "rows/s (median)", report.fmt(fig["on_rows_per_s"])],
        ["counters off", "rows/s (median)", report.fmt(fig["off_rows_per_s"])],
        ["on / off", "rows/s", report.fmt(fig["on_vs_off"], "x")],
        ["counters on", "bench-process CPU per row", f"{fig['on_cpu_per_row_us']:.1f} µs"],
        ["counters off", "bench-process CPU per row", f"{fig['off_cpu_per_row_us']:.1f} µs"],
        ["on / off", "CPU per row", report.fmt(fig["cpu_on_vs_off"], "x")],
        ["both", "write groups per run (median on / off)", f"{fig['on_groups']:.0f} / {fig['off_groups']:.0f}"],
    ]
    load = fig["loadavg"]
    notes = [
        f"load average before {load[0][0]:.2f} {load[0][1]:.2f} {load[0][2]:.2f}, "
        f"after {load[1][0]:.2f} {load[1][1]:.2f} {load[1][2]:.2f}",
        f"{fig['flagged_runs']} of {len(fig['runs'])} runs flagged (left out of the medians)",
        "every run with counters on counted exactly its rows" if fig["counted_ok"] else "COUNTS WRONG in some run",
    ]
    header = (
        f"registration day counters on the write path ({fig['rows']:,} rows per run, batch_create of "
        f"{fig['batch']}, {fig['in_flight']} in flight, {fig['rounds']} interleaved rounds, in-process writer)"
    )
    return report.part(header, rows, notes, markdown)
