"""The registration day counters' cost on the write path: group-committed creations with the counters on and off.

``idnode bench --reg-counter-only``: in this process, Store + Writer +
Registry on a fresh data folder per run (the demo enterprise and prefix, as
the load step sets them up), new identifiers from the data generator, once
with the writer's ``count_registrations`` on and once off, alternating which
goes first, for ``--rounds`` rounds, in two series:

- ``batch``: ``--import-rows`` rows by ``batch_create`` of 1000, 4 in
  flight (as ``idnode import`` sends them; the writer groups them);
- ``single``: a tenth of that by ``create``, one identifier a call, 64 in
  flight (API traffic: many one-item operations per group, where the
  per-group counter update weighs most).

Each run records rows/s, the bench process's CPU seconds (the writer thread
is in it) and the CPU the rest of the machine used meanwhile; a run with >
0.25 core busy elsewhere is flagged ``contended`` and left out of the
medians. Every outcome must be a creation, and a run with the counters on
must have counted exactly its rows.
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

SERIES = {"batch": (1000, 4, 1), "single": (1, 64, 10)}  # items a call, calls in flight, rows divided by
CONTENDED = 0.25  # cores busy outside the bench process


async def _one(
    folder: Path, series: str, rows: int, seed: int, prefix: str, node_prefix: str, count: bool
) -> dict[str, Any]:
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
        size, in_flight, _ = SERIES[series]
        items = list(datagen.generate(rows, prefix, seed))
        calls = [items[s : s + size] for s in range(0, rows, size)]
        commits0, first = writer.commits, time.time()
        ours0, machine0, wall0 = tree_cpu_seconds(os.getpid()), system_busy_seconds(), time.monotonic()
        created = 0
        for start in range(0, len(calls), in_flight):
            if size == 1:
                done = await asyncio.gather(
                    *(registry.create(enterprise, c[0]) for c in calls[start : start + in_flight])
                )
                created += sum(1 for o in done if o.created)
            else:
                answers = await asyncio.gather(
                    *(registry.batch_create(enterprise, c) for c in calls[start : start + in_flight])
                )
                created += sum(1 for outcomes in answers for o in outcomes if o.created)
        wall = time.monotonic() - wall0
        ours = tree_cpu_seconds(os.getpid()) - ours0
        others = max(system_busy_seconds() - machine0 - ours, 0.0)
        days = {stats.day_of(when, stats.zone()) for when in (first, time.time())}  # a run may cross midnight
        counted = sum(stats.day_registrations(store, day).get(prefix, 0) for day in days)
        return {
            "series": series,
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
    """Interleaved runs with the counters on and off per series; medians, the on/off ratios and every run."""
    runs: list[dict[str, Any]] = []
    load0 = os.getloadavg()
    for n in range(rounds):
        order = (True, False) if n % 2 == 0 else (False, True)
        for series, (_, _, divide) in SERIES.items():
            for count in order:
                folder = work / f"counters-{series}-{n}-{'on' if count else 'off'}"
                try:
                    one = asyncio.run(_one(folder, series, max(rows // divide, 1), seed, prefix, node_prefix, count))
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                flags = []
                if one["created"] != one["rows"]:
                    flags.append("errors")
                if count and one["counted"] != one["rows"]:
                    flags.append("miscounted")
                if one["others_cores"] > CONTENDED:
                    flags.append("contended")
                one["round"], one["flags"] = n, flags
                runs.append(one)
    out: dict[str, Any] = {"rows": rows, "rounds": rounds, "series": {}, "runs": runs}
    for series, (size, in_flight, divide) in SERIES.items():
        fig: dict[str, Any] = {"rows": max(rows // divide, 1), "items_per_call": size, "in_flight": in_flight}
        for mode in ("on", "off"):
            mine = [r for r in runs if r["series"] == series and r["counters"] == mode]
            pick = [r for r in mine if not r["flags"]] or mine
            fig[f"{mode}_rows_per_s"] = statistics.median(r["rate"] for r in pick)
            fig[f"{mode}_cpu_per_row_us"] = statistics.median(r["cpu_per_row_us"] for r in pick)
            fig[f"{mode}_groups"] = statistics.median(r["groups"] for r in pick)
            fig[f"{mode}_from_flagged_only"] = all(r["flags"] for r in mine)
        fig["on_vs_off"] = report.ratio(fig["on_rows_per_s"], fig["off_rows_per_s"])
        fig["cpu_on_vs_off"] = report.ratio(fig["on_cpu_per_row_us"], fig["off_cpu_per_row_us"])
        out["series"][series] = fig
    out["loadavg"] = [load0, os.getloadavg()]
    out["flagged_runs"] = sum(1 for r in runs if r["flags"])
    out["counted_ok"] = all(r["counted"] == r["rows"] for r in runs if r["counters"] == "on")
    return out


def render(fig: dict[str, Any], markdown: bool = False) -> str:
    """The part as a table (plain text or Markdown) with its header line and notes."""
    rows: list[list[str]] = []
    for series, s in fig["series"].items():
        name = f"{series} ({s['rows']:,} rows, {s['items_per_call']} a call, {s['in_flight']} in flight)"
        untrusted = " (flagged runs only)" if s["on_from_flagged_only"] or s["off_from_flagged_only"] else ""
        rows += [
            [
                name,
                "rows/s on / off (medians)",
                f"{report.fmt(s['on_rows_per_s'])} / {report.fmt(s['off_rows_per_s'])}",
            ],
            [name, "rows/s, on / off" + untrusted, report.fmt(s["on_vs_off"], "x")],
            [name, "CPU per row on / off", f"{s['on_cpu_per_row_us']:.1f} / {s['off_cpu_per_row_us']:.1f} µs"],
            [name, "CPU per row, on / off", report.fmt(s["cpu_on_vs_off"], "x")],
            [name, "write groups a run on / off", f"{s['on_groups']:.0f} / {s['off_groups']:.0f}"],
        ]
    load = fig["loadavg"]
    notes = [
        f"load average before {load[0][0]:.2f} {load[0][1]:.2f} {load[0][2]:.2f}, "
        f"after {load[1][0]:.2f} {load[1][1]:.2f} {load[1][2]:.2f}",
        f"{fig['flagged_runs']} of {len(fig['runs'])} runs flagged (left out of the medians)",
        "every run with counters on counted exactly its rows" if fig["counted_ok"] else "COUNTS WRONG in some run",
    ]
    header = (
        f"registration day counters on the write path (in-process writer, {fig['rounds']} interleaved rounds, "
        "fresh data folder per run)"
    )
    return report.part(header, rows, notes, markdown)
