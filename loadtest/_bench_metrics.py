"""``idnode bench --metrics-cost``: the node with metrics on against the same node with ``--no-metrics``.

A second node serves a copy of the loaded data folder with ``--no-metrics``
(the baseline: the front ends take their uncounted paths); it runs in the
same interleaved rounds as the node with metrics on (gRPC Resolve levels,
BatchResolve, ResolveStream; dnsperf with ``--dns``), each idle while the
other is measured. The figure is the ratio of the medians, metrics on / off.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from idnode.loadtest import _bench_report as report

__all__ = ["BASELINE", "baseline_flags", "copy_data", "figures", "node_flags", "render"]

BASELINE = "idnode-nometrics"
OFF_FLAG = "--no-metrics"
# --limits-cost: the measured node takes a token per request from buckets never empty at this rate; the
# baseline runs with the limits off (the bench's default, _node_env) and metrics on like the measured node.
NEVER_REACHED = "1000000000/1000000000"
LIMITS_ON = ("--rate-limit-resolve", NEVER_REACHED, "--rate-limit-write", NEVER_REACHED)


def node_flags(args: Any) -> list[str]:
    """Extra flags of the measured node: the limits on with ``--limits-cost``, else none."""
    return list(LIMITS_ON) if getattr(args, "limits_cost", False) else []


def baseline_flags(args: Any) -> list[str]:
    """Extra flags of the baseline node: ``--no-metrics``, or none with ``--limits-cost`` (limits off)."""
    return [] if getattr(args, "limits_cost", False) else [OFF_FLAG]


def copy_data(data_dir: Path) -> Path:
    """A copy of the (stopped) node's data folder for the baseline node, beside it."""
    target = data_dir.with_name(data_dir.name + "-nometrics")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(data_dir, target, ignore=shutil.ignore_patterns("metrics", "*.sock"))
    return target


def figures(runs: list[dict[str, Any]], what: str = "metrics") -> dict[str, Any]:
    """Per series measured on both nodes: medians of each and the ratio metrics on / off."""
    by_series: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for run in runs:
        series, target = run["series"], run.get("target")
        if series.startswith("warmup") or target not in ("idnode", BASELINE):
            continue
        base = series.rsplit("/", 1)[0]
        by_series.setdefault(base, {}).setdefault(target, []).append(run)
    rows = []
    for base, sides in sorted(by_series.items()):
        if BASELINE not in sides or "idnode" not in sides:
            continue
        on, on_trusted = report.median_field(sides["idnode"])
        off, off_trusted = report.median_field(sides[BASELINE])
        cpu_on = report.median_field(sides["idnode"], "server_cpu")[0]
        cpu_off = report.median_field(sides[BASELINE], "server_cpu")[0]
        # Requests per server CPU-second: the cost per request, steadier than the rate on a shared machine.
        per_cpu_on = report.median_field(sides["idnode"], "items_per_server_cpu_s")[0]
        per_cpu_off = report.median_field(sides[BASELINE], "items_per_server_cpu_s")[0]
        rows.append(
            {
                "series": base,
                "on": on,
                "off": off,
                "ratio": report.ratio(on, off),
                "server_cpu_on": cpu_on,
                "server_cpu_off": cpu_off,
                "per_cpu_on": per_cpu_on,
                "per_cpu_off": per_cpu_off,
                "per_cpu_ratio": report.ratio(per_cpu_on, per_cpu_off),
                "runs": (len(sides["idnode"]), len(sides[BASELINE])),
                "trusted": on_trusted and off_trusted,
            }
        )
    return {"rows": rows, "what": what}


def render(fig: dict[str, Any], markdown: bool = False) -> str:
    tab = report.markdown_table if markdown else report.table
    limits = fig.get("what") == "limits"
    headers = [
        "series",
        "limits on /s" if limits else "metrics on /s",
        "limits off /s" if limits else "--no-metrics /s",
        "on / off",
        "server CPU on/off",
        "per CPU-s on / off",
        "runs",
    ]
    rows = [
        [
            r["series"] + ("" if r["trusted"] else " (flagged runs)"),
            report.fmt(r["on"]),
            report.fmt(r["off"]),
            report.fmt(r["ratio"], "x"),
            f"{report.fmt(r['server_cpu_on'], 'cores')} / {report.fmt(r['server_cpu_off'], 'cores')}",
            report.fmt(r["per_cpu_ratio"], "x"),
            f"{r['runs'][0]}+{r['runs'][1]}",
        ]
        for r in fig["rows"]
    ]
    title = "Metrics cost: the node with metrics on against a copy with --no-metrics, interleaved rounds, medians"
    if limits:
        title = (
            "Rate-limit cost: the node with per-client limits on (never reached) against a copy with them off,"
            " interleaved rounds, medians"
        )
    return title + "\n\n" + tab(headers, rows)
