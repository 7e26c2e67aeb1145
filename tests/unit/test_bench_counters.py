"""`idnode bench --reg-counter-only`: one tiny real run, counters on and off, every figure written."""

from __future__ import annotations

import json

from idnode.loadtest import _bench_counters, bench


def test_tiny_run_compares_counters_on_and_off(tmp_path, capsys):
    out = tmp_path / "fig.json"
    argv = ["--reg-counter-only", "--import-rows", "1500", "--rounds", "2", "--work-dir", str(tmp_path / "w")]
    assert bench.main([*argv, "--json", str(out)]) == 0
    fig = json.loads(out.read_text())["counters"]
    order = [(r["round"], r["series"], r["counters"]) for r in fig["runs"]]
    assert order == [
        (0, "batch", "on"),
        (0, "batch", "off"),
        (0, "single", "on"),
        (0, "single", "off"),
        (1, "batch", "off"),
        (1, "batch", "on"),
        (1, "single", "off"),
        (1, "single", "on"),
    ]
    rows = {"batch": 1500, "single": 150}
    assert all(r["rows"] == r["created"] == rows[r["series"]] and r["rate"] > 0 for r in fig["runs"])
    assert all(r["counted"] == (r["rows"] if r["counters"] == "on" else 0) for r in fig["runs"]) and fig["counted_ok"]
    single = fig["series"]["single"]
    assert single["on_vs_off"] == single["on_rows_per_s"] / single["off_rows_per_s"]
    assert single["on_groups"] < 150  # many one-item operations share a group
    printed = capsys.readouterr().out
    assert "registration day counters on the write path" in printed and "single (150 rows, 1 a call" in printed
    assert "| batch (1,500 rows, 1000 a call, 4 in flight) | rows/s on / off (medians) |" in _bench_counters.render(
        fig, markdown=True
    )
    assert not list((tmp_path / "w").iterdir())  # every run's folder removed
