"""`idnode bench --reg-counter-only`: one tiny real run, counters on and off, every figure written."""

from __future__ import annotations

import json

from idnode.loadtest import _bench_counters, bench


def test_tiny_run_compares_counters_on_and_off(tmp_path, capsys):
    out = tmp_path / "fig.json"
    argv = ["--reg-counter-only", "--import-rows", "1500", "--rounds", "2", "--work-dir", str(tmp_path / "w")]
    assert bench.main([*argv, "--json", str(out)]) == 0
    fig = json.loads(out.read_text())["counters"]
    assert [(r["round"], r["counters"]) for r in fig["runs"]] == [(0, "on"), (0, "off"), (1, "off"), (1, "on")]
    assert all(r["created"] == 1500 and r["rate"] > 0 and r["groups"] >= 1 for r in fig["runs"])
    assert [r["counted"] for r in fig["runs"] if r["counters"] == "on"] == [1500, 1500] and fig["counted_ok"]
    assert [r["counted"] for r in fig["runs"] if r["counters"] == "off"] == [0, 0]  # nothing kept when off
    assert fig["on_vs_off"] == fig["on_rows_per_s"] / fig["off_rows_per_s"]
    printed = capsys.readouterr().out
    assert "registration day counters on the write path (1,500 rows per run" in printed and "on / off" in printed
    assert "| counters on | rows/s (median) |" in _bench_counters.render(fig, markdown=True)
    assert not list((tmp_path / "w").iterdir())  # every run's folder removed
