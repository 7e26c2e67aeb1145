"""`idnode bench`: the open-loop scheduler's arithmetic, flags and targets, and one tiny real run."""

from __future__ import annotations

import json
import math

import pytest

from idnode.loadtest import _bench_report as report
from idnode.loadtest import bench
from idnode.loadtest._bench_load import due_count, percentile, scheduled_at
from idnode.loadtest._bench_proc import READY, tree_cpu_seconds, tree_pids

# -- open-loop scheduler ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "rate", "limit", "due"),
    [
        (-0.001, 100, 1000, 0),  # before the start nothing is due
        (0.0, 100, 1000, 1),  # send 0 is due at the start
        (0.0099, 100, 1000, 1),
        (0.01, 100, 1000, 2),  # send 1 at 1/rate
        (0.03, 100, 1000, 4),  # 0.03 * 100 is 2.9999999999999996 in floats: still 4 due
        (1.0, 2000, 1000, 1000),  # never more than the run holds
        (0.5, 2000, 5000, 1001),
        (0.7, 3, 100, 3),  # 0, 1/3, 2/3
        (5.0, 100, 0, 0),
    ],
)
def test_due_count(elapsed, rate, limit, due):
    assert due_count(elapsed, rate, limit) == due


def test_scheduled_times_and_due_counts_agree():
    rate, start = 1234.5, 100.0
    for i in range(0, 5000, 7):
        at = scheduled_at(start, rate, i)
        assert due_count(at - start, rate, 10**9) == i + 1  # at its own time, send i is the last one due
        assert due_count(at - start - 1e-6, rate, 10**9) == i


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([1.0], 0.99, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
        (list(map(float, range(1, 101))), 0.99, 99.0),
        (list(map(float, range(1, 101))), 0.5, 50.0),
        (list(map(float, range(1, 1001))), 0.99, 990.0),
        ([5.0, 6.0], 1.0, 6.0),
        ([5.0, 6.0], 0.0, 5.0),
    ],
)
def test_percentile_nearest_rank(values, fraction, expected):
    assert percentile(values, fraction) == expected


def test_percentile_of_nothing_is_nan():
    assert math.isnan(percentile([], 0.99))


# -- flags, medians, targets -------------------------------------------------------------


def run(series="resolve@16/idnode", rate=1000.0, **extra):
    base = {
        "series": series,
        "rate": rate,
        "errors": 0,
        "elapsed": 1.0,
        "planned": 1.0,
        "calls": 1000,
        "client_cpu": 0.5,
        "server_cpu": 1.0,
        "ok": True,
    }
    base.update(extra)
    base["flags"] = report.flag_run(base)
    return base


@pytest.mark.parametrize(
    ("extra", "flags"),
    [
        ({}, []),
        ({"errors": 3}, ["errors"]),
        ({"ok": False}, ["failed"]),
        ({"client_cpu": 0.97, "server_cpu": 0.2}, ["starved"]),
        ({"client_cpu": 0.97, "server_cpu": 1.1}, ["client-bound"]),
        ({"client_cpu": 1.0, "server_cpu": None}, []),  # raw LMDB runs have no server
        ({"elapsed": 0.3}, ["short"]),
        ({"calls": 5}, ["short"]),
        ({"send_lag_p99_ms": 12.0}, ["behind"]),
        ({"other_cpu": 0.6}, ["contended"]),
        ({"other_cpu": 0.1}, []),
    ],
)
def test_flag_run(extra, flags):
    assert run(**extra)["flags"] == flags


def test_flagged_runs_stay_out_of_the_median():
    runs = [run(rate=1000.0), run(rate=1100.0), run(rate=5000.0, errors=1), run(rate=100.0), run(rate=1050.0)]
    report.flag_outliers(runs)
    assert runs[3]["flags"] == ["outlier"]
    assert report.median_field(runs) == (1050.0, True)
    client_bound = run(rate=900.0, client_cpu=0.95)
    assert report.median_field([client_bound]) == (900.0, True)  # a lower bound, still counted


def test_only_flagged_runs_give_an_untrusted_median():
    assert report.median_field([run(rate=10.0, errors=1), run(rate=30.0, errors=2)]) == (20.0, False)
    assert report.median_field([]) == (None, False)


def test_targets():
    figures = {
        "resolve_vs_echo": 0.95,
        "batch_vs_lmdb": 0.2,
        "import_rows_per_s": 120_000.0,
        "import_vs_lmdb": 0.05,
        "resolve_p99_ms": 4.0,
        "workers2_vs_workers1": None,
    }
    results = report.check_targets(figures, {"batch_vs_lmdb"}, {"workers2_vs_workers1": "not available: no"})
    assert [(t["key"], t["result"]) for t in results] == [
        ("resolve_vs_echo", "PASS"),
        ("batch_vs_lmdb", "MISS"),
        ("import_rows_per_s", "PASS"),
        ("import_vs_lmdb", "MISS"),
        ("resolve_p99_ms", "PASS"),
        ("workers2_vs_workers1", "N/A"),
    ]
    assert results[1]["note"] == "from flagged runs only"
    assert results[5]["note"] == "not available: no"


def test_quick_defaults_and_overrides():
    args = bench.parse_args(["--quick"])
    assert (args.count, args.rounds, args.seconds, args.levels) == (50_000, 3, 1.0, [16, 128])
    args = bench.parse_args(["--quick", "--count", "7", "--levels", "64,8,8"])
    assert (args.count, args.levels) == (7, [8, 64])
    assert bench.parse_args([]).count == 1_000_000
    with pytest.raises(SystemExit):
        bench.parse_args(["--rounds", "0"])


def test_ready_line_and_process_tree():
    line = "idnode: gRPC listening on 127.0.0.1:43817 (node prefix 88.118, one process, data x, fast path python)"
    assert READY.search(line).group(1) == "43817"
    assert READY.search("echo: gRPC listening on [::1]:5 (2 workers)").group(1) == "5"
    import os

    assert tree_pids(os.getpid())[0] == os.getpid()
    assert tree_cpu_seconds(os.getpid()) > 0


# -- one tiny real run ---------------------------------------------------------------------

KEYS = {
    "resolve_rps",
    "echo_rps",
    "resolve_vs_echo",
    "resolve_levels",
    "batch_ids_per_s",
    "echo_batch_ids_per_s",
    "batch_vs_echo",
    "stream_ids_per_s",
    "echo_stream_ids_per_s",
    "mix_rps",
    "lmdb_get_per_s",
    "lmdb_get_many_per_s",
    "batch_vs_lmdb",
    "import_rows_per_s",
    "lmdb_put_per_s",
    "import_vs_lmdb",
    "resolve_p50_ms",
    "resolve_p99_ms",
    "echo_p99_ms",
    "open_loop_rate",
    "calls_per_cpu_s_workers1",
    "calls_per_cpu_s_workers2",
    "workers2_vs_workers1",
    "targets",
    "fastpath",
    "runs",
    "flagged_runs",
    "config",
    "machine",
}


def test_tiny_run_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["--quick", "--count", "2000", "--rounds", "1", "--seconds", "0.4", "--levels", "8"]
    argv += ["--workers", "1", "--pool", "1000", "--import-rows", "300", "--no-efficiency", "--json", str(out)]
    assert bench.main(argv) == 0
    fig = json.loads(out.read_text())
    assert set(fig) >= KEYS
    assert not fig.get("failed")
    for key in ("resolve_rps", "echo_rps", "batch_ids_per_s", "stream_ids_per_s", "mix_rps", "lmdb_get_per_s"):
        assert fig[key] > 0, key
    assert fig["import_rows_per_s"] > 0 and fig["lmdb_put_per_s"] > 0 and fig["resolve_p99_ms"] > 0
    # Every reply was checked: no run saw an error (the mix's unknown handles answered 100).
    assert [r["series"] for r in fig["runs"] if r["errors"]] == []
    assert {t["key"] for t in fig["targets"]} == {k for k, *_ in report.TARGETS}
    assert fig["workers2_vs_workers1_status"] == "skipped (--no-efficiency)"
    printed = capsys.readouterr().out
    assert "Resolve calls/s, 8 in flight" in printed
    assert "PASS" in printed or "MISS" in printed
