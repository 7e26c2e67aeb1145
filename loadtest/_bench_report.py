"""The benchmark's arithmetic and output: flags, medians, ratios, targets, the table.

Everything here is pure: it takes the run records the bench collected and
returns figures and text, so it is tested without servers.

A run record is a dict with at least ``series`` (what was measured, e.g.
``"resolve@64/idnode"``), ``rate`` (items per second), ``errors``,
``elapsed``, ``planned``, ``calls``, ``client_cpu`` and ``server_cpu`` (cores
busy, ``None`` when there is no server) and ``flags`` (a list, filled here).
``calls`` counts calls, stream messages, gets or rows, whichever the run makes;
``other_cpu`` the cores busy outside the benchmark's processes meanwhile.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

# A run is not averaged in when it carries one of these flags ("client-bound" only marks a figure
# as a lower bound; "loss" is set by the DNS comparison: more than 0.1% of the queries lost).
EXCLUDING_FLAGS = ("failed", "errors", "starved", "contended", "short", "outlier", "behind", "loss")
CLIENT_BUSY = 0.9  # cores: the load process is single-threaded Python; near 1 it is the bottleneck
SERVER_IDLE = 0.5  # cores: a server this idle while the client is busy was not loaded
OTHER_BUSY = 0.25  # cores used by processes outside the benchmark: the run did not have the machine
OUTLIER = 0.5  # a run below half the median of its series is an outlier
MAX_SEND_LAG_MS = 5.0  # open loop: the client sent this late (p99) = it could not hold the rate


def flag_run(run: dict[str, Any]) -> list[str]:
    """The flags a run earns on its own (``outlier`` needs the series: :func:`flag_outliers`)."""
    flags = []
    if not run.get("ok", True):
        flags.append("failed")
    if run.get("errors", 0):
        flags.append("errors")
    server = run.get("server_cpu")
    if run.get("client_cpu", 0.0) >= CLIENT_BUSY and server is not None:
        # The load client is the bottleneck: with an idle server the run measured nothing of the
        # server (starved, left out); otherwise the figure is a lower bound (client-bound, kept).
        flags.append("starved" if server < SERVER_IDLE else "client-bound")
    if run.get("other_cpu", 0.0) > OTHER_BUSY:
        flags.append("contended")
    # Too short to mean anything: a timed run that ended early, or hardly any calls (or rows).
    if run.get("elapsed", 0.0) < 0.5 * run.get("planned", 0.0) or run.get("calls", 0) < 20:
        flags.append("short")
    if run.get("send_lag_p99_ms", 0.0) > MAX_SEND_LAG_MS:
        flags.append("behind")
    return flags


def flag_outliers(runs: Iterable[dict[str, Any]]) -> None:
    """Add ``outlier`` to runs far below the median of their series (in place)."""
    by_series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_series[run["series"]].append(run)
    for series in by_series.values():
        rates = [r["rate"] for r in series if r.get("ok", True)]
        if len(rates) < 3:
            continue
        middle = statistics.median(rates)
        for run in series:
            if run.get("ok", True) and run["rate"] < OUTLIER * middle and "outlier" not in run["flags"]:
                run["flags"].append("outlier")


def good(run: dict[str, Any]) -> bool:
    return not any(flag in EXCLUDING_FLAGS for flag in run["flags"])


def median_field(runs: list[dict[str, Any]], field: str = "rate") -> tuple[float | None, bool]:
    """Median of ``field`` over the good runs: ``(value, trusted)``.

    When every run is flagged the median of all of them is returned with
    ``trusted`` False (shown, never silently averaged with good runs).
    ``(None, False)`` when there are no runs with the field.
    """
    chosen = [r for r in runs if good(r)]
    trusted = bool(chosen)
    if not chosen:
        chosen = runs
    values = [r[field] for r in chosen if r.get(field) is not None and not _nan(r[field])]
    if not values:
        return None, False
    return statistics.median(values), trusted


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def series_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of a series: rate, CPU, latency; how many runs were used."""
    out: dict[str, Any] = {
        "runs": len(runs),
        "good_runs": sum(1 for r in runs if good(r)),
        "client_bound_runs": sum(1 for r in runs if "client-bound" in r["flags"]),
    }
    for field in ("rate", "server_cpu", "client_cpu", "p50_ms", "p99_ms", "items_per_server_cpu_s"):
        value, trusted = median_field(runs, field)
        out[field] = value
        if field == "rate":
            out["trusted"] = trusted
    return out


# -- targets ---------------------------------------------------------------------------

TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("resolve_vs_echo", ">=", "unary Resolve >= 0.9x echo calls/s", 0.9),
    ("batch_vs_lmdb", ">=", "BatchResolve ids/s >= 0.5x raw LMDB gets/s", 0.5),
    ("import_rows_per_s", ">=", "import >= 100,000 rows/s", 100_000),
    ("import_vs_lmdb", ">=", "import >= 0.1x raw putmulti rows/s", 0.1),
    ("resolve_p99_ms", "<=", "Resolve p99 <= 5 ms at half of peak (open loop)", 5.0),
    ("workers2_vs_workers1", ">=", "calls per server CPU-s, 2 workers >= 0.9x 1 worker", 0.9),
)


def check_targets(
    figures: dict[str, Any], untrusted: Iterable[str] = (), status: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """One entry per target: its value, PASS / MISS, or N/A with the reason.

    Args:
        figures: the bench's figures by JSON key.
        untrusted: keys computed from flagged runs only (noted beside the result).
        status: why a key has no value (e.g. ``"not available: ..."``).
    """
    untrusted = set(untrusted)
    status = status or {}
    out = []
    for key, op, text, bound in TARGETS:
        value = figures.get(key)
        entry: dict[str, Any] = {"target": text, "key": key, "value": None, "bound": bound}
        if not isinstance(value, (int, float)) or _nan(value):
            entry.update(result="N/A", note=status.get(key, "not measured"))
        else:
            passed = value >= bound if op == ">=" else value <= bound
            entry.update(
                value=value,
                result="PASS" if passed else "MISS",
                note="from flagged runs only" if key in untrusted else "",
            )
        out.append(entry)
    return out


# -- text ------------------------------------------------------------------------------


def fmt(value: Any, unit: str = "") -> str:
    if value is None or _nan(value):
        return "-"
    if isinstance(value, str):
        return value
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:.2f}"
    if unit == "cores":
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def duration(seconds: float | None, digits: int = 2) -> str:
    """``seconds`` as "1.23 s" from a second up, else in ms with ``digits`` decimals; "-" when unknown."""
    if seconds is None or _nan(seconds):
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.{digits}f} ms"


def part(header: str, rows: list[list[str]], notes: Iterable[str], markdown: bool = False) -> str:
    """One bench part as its header line, a part/measure/value table (plain text or Markdown) and its notes."""
    tab = markdown_table if markdown else table
    item = "- " if markdown else "  "
    lines = [header, "", tab(["part", "measure", "value"], rows)]
    lines.extend(f"{item}note: {note}" for note in notes)
    return "\n".join(lines)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = []
    for n, row in enumerate([headers, *rows]):
        cells = [str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
    return "\n".join(out)
