"""The pure parts of `idnode bench --sync`: pacing schedule, summaries, table (no processes)."""

from __future__ import annotations

import itertools
import math

import pytest

from idnode.loadtest import _bench_sync as sync


def test_pace_schedule_spreads_batches_evenly_on_the_clock():
    times = sync.pace_schedule(1000, 20, 100)
    assert len(times) == 200  # 20,000 identifiers in batches of 100
    assert times[0] == 0.0
    assert times[1] == pytest.approx(0.1)
    assert times[-1] == pytest.approx(19.9)
    assert all(b > a for a, b in itertools.pairwise(times))


def test_pace_schedule_at_least_one_batch_and_rejects_nonsense():
    assert sync.pace_schedule(10, 1, 100) == [0.0]
    for bad in ((0, 1, 100), (10, 0, 100), (10, 1, 0)):
        with pytest.raises(ValueError):
            sync.pace_schedule(*bad)


def test_summary_nearest_rank():
    s = sync.summary([float(x) for x in range(100, 0, -1)])  # 1..100, unsorted
    assert (s["n"], s["median"], s["p95"], s["p99"], s["max"], s["min"]) == (100, 50, 95, 99, 100, 1)
    empty = sync.summary([])
    assert empty["n"] == 0 and math.isnan(empty["median"]) and math.isnan(empty["max"])


def test_rate():
    assert sync.rate(100, 2.0) == 50
    assert sync.rate(100, 0) is None and sync.rate(100, None) is None


def _fig():
    lag = sync.summary([0.0, 100.0, 200.0])
    return {
        "workers": 2,
        "notes": ["a note"],
        "steady": {
            "target_rate": 1000.0,
            "achieved_rate": 998.0,
            "written": 20000,
            "write_seconds": 20.04,
            "lag_sequences": lag,
            "lag_seconds": sync.summary([0.0, 0.2]),
            "to_synced_s": 0.05,
        },
        "burst": {"written": 100000, "write_rate": 20000.0, "to_synced_s": 1.5, "end_to_end_rate": 15000.0},
        "backlog": {"changes": 50000, "restart_s": 0.3, "drain_s": 4.0, "drain_rate": 12500.0},
        "resolve": {
            "first": 0.012,
            "cold": sync.summary([0.001, 0.002]),
            "cached": sync.summary([0.0005]),
            "local": sync.summary([0.0004]),
            "errors": [0, 0, 1],
        },
    }


def test_render_plain_and_markdown():
    text = sync.render(_fig())
    assert "node A --workers 2 --top + node B" in text
    assert "1,000 / 998 ids/s" in text
    assert "20,000 in 20.0 s" in text
    assert "50.00 ms" in text and "1.50 s" in text
    assert "12,500 changes/s" in text
    assert "12.00 ms" in text and "0, 0, 1" in text
    assert "note: a note" in text
    md = sync.render(_fig(), markdown=True)
    assert "| part | measure | value |" in md
    assert "| (b) burst | write rate | 20,000 ids/s |" in md
    assert "- note: a note" in md


def test_render_leaves_out_missing_parts():
    fig = {"workers": 1, "notes": [], "steady": _fig()["steady"]}
    text = sync.render(fig)
    assert "(a) steady" in text and "(b) burst" not in text and "(d) recursion" not in text
    assert "+ node B" not in text
