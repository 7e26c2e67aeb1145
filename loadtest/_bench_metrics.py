"""``idnode bench --metrics-cost``: the node with metrics on against the same node with ``--no-metrics``.

A second node serves a copy of the loaded data folder with ``--no-metrics``
(the baseline: the front ends take their uncounted paths); it runs in the
same interleaved rounds as the node with metrics on (gRPC Resolve levels,
BatchResolve, ResolveStream; dnsperf with ``--dns``), each idle while the
other is measured. The figure is the ratio of the medians, metrics on / off.
``--limits-cost`` and ``--timeouts-cost`` run the same comparison with other
flags (:data:`VARIANTS`): rate limits on / off, request timeouts on / off.
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
# --timeouts-cost: the measured node keeps the default --request-timeout/--stream-idle-timeout, the copy has none.
TIMEOUTS_OFF = ("--request-timeout", "off", "--stream-idle-timeout", "off")
VARIANTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str, str, str]] = {
    # what: (measured node's flags, baseline's flags, its column, the baseline's column, the table's title)
    "metrics": (
        (),
        (OFF_FLAG,),
        "metrics on /s",
        "--no-metrics /s",
        "Metrics cost: the node with metrics on against a copy with --no-metrics, interleaved rounds, medians",
    ),
    "limits": (
        LIMITS_ON,
        (),
        "limits on /s",
        "limits off /s",
        "Rate-limit cost: the node with per-client limits on (never reached) against a copy with them off,"
        " interleaved rounds, medians",
    ),
    "timeouts": (
        (),
        TIMEOUTS_OFF,
        "timeouts on /s",
        "timeouts off /s",
        "Request-timeout cost: the node with the default --request-timeout 30s and --stream-idle-timeout 300s"
        " against a copy with both off, interleaved rounds, medians",
    ),
}


def what(args: Any) -> str:
    """Which comparison the arguments ask for: ``limits``, ``timeouts`` or ``metrics``."""
    if getattr(args, "limits_cost", False):
        return "limits"
    return "timeouts" if getattr(args, "timeouts_cost", False) else "metrics"


def node_flags(args: Any) -> list[str]:
    """Extra flags of the measured node (the limits on with ``--limits-cost``, else none)."""
    return list(VARIANTS[what(args)][0])


def baseline_flags(args: Any) -> list[str]:
    """Extra flags of the baseline node: ``--no-metrics``, none with ``--limits-cost`` (limits off), the
    timeouts off with ``--timeouts-cost``."""
    return list(VARIANTS[what(args)][1])


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
    _, _, on_column, off_column, title = VARIANTS[fig.get("what", "metrics")]
    headers = [
        "series",
        on_column,
        off_column,
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
    return title + "\n\n" + tab(headers, rows)
