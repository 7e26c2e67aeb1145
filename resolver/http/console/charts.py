"""Server-side inline SVG charts for the console dashboard: line/area, stacked bars, gauges (no I/O, no library).

Each chart function returns one HTML fragment (plain ``str``; the caller
marks it safe for its templates) holding a ``<figure>`` with:

- an ``<svg role="img">`` with ``aria-label``, ``<title>`` and ``<desc>``,
  axis labels in short numbers (:func:`short_number`: ``1.2k``, ``3.4M``)
  and a legend;
- a ``<details>`` with a ``<table>`` of the same numbers, for screen
  readers and for anyone who wants the exact figures.

Every text is escaped here. No ``style`` attribute is written (the
console's CSP is ``style-src 'self'``): colours come from SVG presentation
attributes, and the classes ``series-0`` .. ``series-7`` let
``static/ops.css`` restyle them. The output depends only on the arguments
(no clock, no randomness), so tests can check its structure exactly.
Labels are passed in by the caller, already in the page's language.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from html import escape

__all__ = [
    "PALETTE",
    "Series",
    "gauge",
    "line_chart",
    "nice_scale",
    "short_bytes",
    "short_number",
    "stacked_bars",
]

# Colour-blind safe (Okabe-Ito), in series order; static/ops.css repeats them per class.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")

WIDTH = 640
HEIGHT = 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 40  # plot margins inside the view box
_TICKS = 4  # intervals on the value axis
_MAX_X_LABELS = 8
_LEGEND_ROW = 18
# the plot of the line and bar charts inside the view box, and the top of their legend below it
_PLOT_TOP, _PLOT_BOTTOM = float(_TOP), float(HEIGHT - _BOTTOM)
_PLOT_WIDTH = WIDTH - _LEFT - _RIGHT
_LEGEND_TOP = HEIGHT - _BOTTOM + 36


@dataclasses.dataclass(frozen=True, slots=True)
class Series:
    """One named row of numbers, one per category (day, prefix, ...); ``None`` = not known (a gap)."""

    name: str
    values: tuple[float | None, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))


def short_number(value: float) -> str:
    """A short, readable number: ``950``, ``1.2k``, ``34k``, ``3.4M``, ``1.5G``; fractions keep two decimals."""
    if value < 0:
        return "-" + short_number(-value)
    for suffix, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size * 0.9995:
            scaled = value / size
            text = f"{scaled:.1f}" if scaled < 99.95 else f"{scaled:.0f}"
            if float(text) >= 1000 and suffix != "G":
                continue  # 999,999 rounds to 1000k: let the next unit up say 1M
            return text.removesuffix(".0") + suffix
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def short_bytes(value: float) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``12 MiB``, ``1.0 GiB``."""
    for suffix, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            scaled = value / size
            return (f"{scaled:.1f}" if scaled < 100 else f"{scaled:.0f}") + " " + suffix
    return f"{int(value)} B"


def nice_scale(value: float, whole: bool = True) -> tuple[float, int]:
    """``(top, intervals)`` of a value axis from 0 to at least ``value``: a tick step of 1, 2, 2.5 or 5 x 10^k
    giving at most :data:`_TICKS` intervals; ``whole`` (counts) keeps steps of at least 1 and never 2.5."""
    if value <= 0:
        return 1.0, 1
    raw = value / _TICKS
    exponent = 10.0 ** math.floor(math.log10(raw))
    step = 10 * exponent
    for factor in (1, 2, 2.5, 5, 10):
        candidate = factor * exponent
        if whole and (candidate < 1 or candidate == 2.5):
            continue
        if candidate >= raw * (1 - 1e-12):
            step = candidate
            break
    intervals = max(1, math.ceil(value / step - 1e-9))
    return step * intervals, intervals


def _fmt(x: float) -> str:
    """A coordinate with at most one decimal, no trailing zeros (deterministic, compact)."""
    text = f"{x:.1f}"
    return text.removesuffix(".0")


def _exact(value: float | None) -> str:
    if value is None:
        return "–"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")


def _colour(position: int) -> str:
    return PALETTE[position % len(PALETTE)]


def _open(chart_id: str, kind: str, title: str, desc: str, height: int) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<figure class="chart chart-{kind}" id="{cid}">',
        f'<figcaption class="chart-title">{escape(title)}</figcaption>',
        f'<svg class="chart-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}" '
        f'aria-labelledby="{cid}-title {cid}-desc" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
    ]


def _empty(chart_id: str, kind: str, title: str, desc: str, empty: str) -> str:
    parts = _open(chart_id, kind, title, desc, 80)
    parts.append(
        f'<text class="chart-empty" x="{WIDTH // 2}" y="45" text-anchor="middle" fill="#555555" '
        f'font-size="16">{escape(empty)}</text>'
    )
    parts.append("</svg>")
    parts.append("</figure>")
    return "\n".join(parts)


def _legend_places(series: Sequence[Series]) -> list[tuple[float, int]]:
    """Where each series' swatch goes: ``(x, row)``, wrapping across rows of the plot's width."""
    places, x, row = [], float(_LEFT), 0
    for one in series:
        width = 24 + 7.5 * len(one.name)
        if x + width > WIDTH - _RIGHT and x > _LEFT:
            x, row = float(_LEFT), row + 1
        places.append((x, row))
        x += width
    return places


def _legend_rows(series: Sequence[Series]) -> int:
    return 1 + max((row for _, row in _legend_places(series)), default=0)


def _legend(series: Sequence[Series], top: float) -> list[str]:
    """Swatch and name per series, in the rows of :func:`_legend_places` from ``top`` down."""
    out = ['<g class="legend">']
    for position, (one, (x, row)) in enumerate(zip(series, _legend_places(series), strict=True)):
        y = top + row * _LEGEND_ROW
        out.append(
            f'<rect class="legend-swatch series-{position}" x="{_fmt(x)}" y="{_fmt(y)}" width="12" height="12" '
            f'fill="{_colour(position)}"/>'
        )
        out.append(
            f'<text class="legend-label" x="{_fmt(x + 16)}" y="{_fmt(y + 10)}" font-size="12" '
            f'fill="#222222">{escape(one.name)}</text>'
        )
    out.append("</g>")
    return out


def _value_axis(top_value: float, intervals: int, y_label: str, fmt: Callable) -> list[str]:
    """Grid lines and labels of the value axis (0 to ``top_value`` in ``intervals`` steps)."""
    out = ['<g class="axis axis-y">']
    for tick in range(intervals + 1):
        value = top_value * tick / intervals
        y = _PLOT_BOTTOM - (_PLOT_BOTTOM - _PLOT_TOP) * tick / intervals
        out.append(
            f'<line class="grid" x1="{_LEFT}" y1="{_fmt(y)}" x2="{WIDTH - _RIGHT}" y2="{_fmt(y)}" '
            f'stroke="#dddddd" stroke-width="1"/>'
        )
        out.append(
            f'<text class="tick" x="{_LEFT - 6}" y="{_fmt(y + 4)}" text-anchor="end" font-size="11" '
            f'fill="#444444">{escape(fmt(value))}</text>'
        )
    mid = (_PLOT_TOP + _PLOT_BOTTOM) / 2
    out.append(
        f'<text class="axis-label" x="12" y="{_fmt(mid)}" text-anchor="middle" font-size="11" fill="#444444" '
        f'transform="rotate(-90 12 {_fmt(mid)})">{escape(y_label)}</text>'
    )
    out.append("</g>")
    return out


def _category_axis(
    labels: Sequence[str], centres: Sequence[float], x_label: str, short: Callable[[str], str] | None
) -> list[str]:
    """Category labels under the plot (``short`` of each, when given), thinned so they do not overlap
    (at most :data:`_MAX_X_LABELS`; first and last always)."""
    y = _PLOT_BOTTOM
    out = ['<g class="axis axis-x">']
    count = len(labels)
    shown_text = [short(label) if short else label for label in labels]
    widest = max((len(text) for text in shown_text), default=1) * 6.5 + 8  # px at font-size 11
    room = max(1, int(_PLOT_WIDTH // widest))
    step = max(1, math.ceil(count / min(_MAX_X_LABELS, room)))
    shown = list(range(0, count, step))
    if shown[-1] != count - 1:
        if count - 1 - shown[-1] < step / 2 and len(shown) > 1:
            shown.pop()  # keep the last label clear of its neighbour
        shown.append(count - 1)
    for position in shown:
        # labels at the plot's edges align inwards, so they are not cut by the view box
        anchor = "middle"
        if centres[position] - _LEFT < 30 and count > 1:
            anchor = "start"
        elif WIDTH - _RIGHT - centres[position] < 30 and count > 1:
            anchor = "end"
        out.append(
            f'<text class="tick" x="{_fmt(centres[position])}" y="{_fmt(y + 14)}" text-anchor="{anchor}" '
            f'font-size="11" fill="#444444">{escape(shown_text[position])}</text>'
        )
    out.append(
        f'<text class="axis-label" x="{_fmt((_LEFT + WIDTH - _RIGHT) / 2)}" y="{_fmt(y + 30)}" '
        f'text-anchor="middle" font-size="11" fill="#444444">{escape(x_label)}</text>'
    )
    out.append("</g>")
    return out


def _table(
    title: str, summary: str, x_label: str, labels: Sequence[str], series: Sequence[Series], total: str = ""
) -> list[str]:
    """The chart's numbers as a table in a ``<details>`` (screen readers, exact figures)."""
    out = [
        '<details class="chart-data">',
        f"<summary>{escape(summary)}</summary>",
        '<div class="table-scroll"><table>',
        f"<caption>{escape(title)}</caption>",
        f'<thead><tr><th scope="col">{escape(x_label)}</th>',
    ]
    out.extend(f'<th scope="col">{escape(one.name)}</th>' for one in series)
    if total:
        out.append(f'<th scope="col">{escape(total)}</th>')
    out.append("</tr></thead><tbody>")
    for position, label in enumerate(labels):
        cells = [one.values[position] for one in series]
        row = [f'<tr><th scope="row">{escape(label)}</th>']
        row.extend(f"<td>{_exact(cell)}</td>" for cell in cells)
        if total:
            known = [cell for cell in cells if cell is not None]
            row.append(f"<td>{_exact(sum(known)) if known else _exact(None)}</td>")
        row.append("</tr>")
        out.append("".join(row))
    out.append("</tbody></table></div></details>")
    return out


def _check(labels: Sequence[str], series: Sequence[Series]) -> None:
    for one in series:
        if len(one.values) != len(labels):
            raise ValueError(f"series {one.name!r} has {len(one.values)} values for {len(labels)} labels")


def _is_empty(labels: Sequence[str], series: Sequence[Series]) -> bool:
    return not labels or not series or all(v is None for one in series for v in one.values)


def _plot_height(series: Sequence[Series]) -> int:
    """The view box's height of a line or bar chart: the plot, then as many legend rows as ``series`` need."""
    return int(_LEGEND_TOP + _legend_rows(series) * _LEGEND_ROW + 4)


def _plot_close(parts: list[str], series: Sequence[Series], table: list[str]) -> str:
    """The end of a line or bar chart: the legend under the plot, the end of the SVG, the data table."""
    parts += _legend(series, _LEGEND_TOP)
    parts.append("</svg>")
    parts += table
    parts.append("</figure>")
    return "\n".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    empty: str,
    table_summary: str,
    area: bool = False,
    fmt: Callable[[float], str] = short_number,
    axis_label: Callable[[str], str] | None = None,
) -> str:
    """A time series (one point per label, e.g. per day), one line per series; ``area`` fills under each line.

    A ``None`` value is a gap: the line breaks there (a day not known is not
    drawn as zero). Each point is a ``<circle>`` with its own ``<title>``.

    Args:
        chart_id: the ``id`` of the figure (unique on the page); ids of the
            title and description derive from it.
        title, desc: the chart's name and a sentence saying what it shows.
        labels: the categories along the x axis, in order (ISO days).
        series: one or more rows of values, each as long as ``labels``.
        x_label, y_label, empty, table_summary: the axis names, the text shown
            when there is nothing to draw, and the summary of the data table.
        fmt: formats values on the axis.
        axis_label: shortens a label for the axis (``2026-11-29`` -> ``11-29``); the
            table and the points' tooltips keep the whole label.

    Raises:
        ValueError: a series whose length differs from ``labels``.
    """
    _check(labels, series)
    if _is_empty(labels, series):
        return _empty(chart_id, "line", title, desc, empty)
    known = [v for one in series for v in one.values if v is not None]
    top_value, intervals = nice_scale(max(known, default=0), all(v == int(v) for v in known))
    count = len(labels)
    xs = [_LEFT + _PLOT_WIDTH / 2] if count == 1 else [_LEFT + _PLOT_WIDTH * i / (count - 1) for i in range(count)]

    def y_of(value: float) -> float:
        return _PLOT_BOTTOM - (_PLOT_BOTTOM - _PLOT_TOP) * value / top_value

    parts = _open(chart_id, "line", title, desc, _plot_height(series))
    parts += _value_axis(top_value, intervals, y_label, fmt)
    parts += _category_axis(labels, xs, x_label, axis_label)
    for position, one in enumerate(series):
        colour = _colour(position)
        parts.append(f'<g class="series series-{position}" data-series="{escape(one.name)}">')
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(one.values):
            if value is None:
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append((xs[i], y_of(value)))
        for run in (r for r in runs if r):
            points = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in run)
            if area:
                base = f"{_fmt(run[-1][0])},{_fmt(_PLOT_BOTTOM)} {_fmt(run[0][0])},{_fmt(_PLOT_BOTTOM)}"
                parts.append(
                    f'<polygon class="area series-{position}" points="{points} {base}" fill="{colour}" '
                    f'fill-opacity="0.15" stroke="none"/>'
                )
            parts.append(
                f'<polyline class="line series-{position}" points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="2"/>'
            )
        for i, value in enumerate(one.values):
            if value is None:
                continue
            parts.append(
                f'<circle class="point series-{position}" cx="{_fmt(xs[i])}" cy="{_fmt(y_of(value))}" r="3" '
                f'fill="{colour}"><title>{escape(one.name)}, {escape(labels[i])}: {_exact(value)}</title></circle>'
            )
        parts.append("</g>")
    return _plot_close(parts, series, _table(title, table_summary, x_label, labels, series))


def stacked_bars(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    empty: str,
    table_summary: str,
    total_label: str,
    fmt: Callable[[float], str] = short_number,
    axis_label: Callable[[str], str] | None = None,
) -> str:
    """One bar per label (a day, a prefix), stacked by series (front ends); a segment per non-zero value.

    Arguments as for :func:`line_chart`; ``total_label`` names the table's
    total column. ``None`` values count as zero in the stack.

    Raises:
        ValueError: a series whose length differs from ``labels``.
    """
    _check(labels, series)
    if _is_empty(labels, series) or not any(v for one in series for v in one.values):
        return _empty(chart_id, "bars", title, desc, empty)
    count = len(labels)
    totals = [sum(one.values[i] or 0 for one in series) for i in range(count)]
    top_value, intervals = nice_scale(max(totals), all(t == int(t) for t in totals))
    slot = _PLOT_WIDTH / count
    bar = min(max(slot * 0.7, 1.0), 80.0)  # a few categories do not make slabs
    centres = [_LEFT + slot * (i + 0.5) for i in range(count)]
    scale = (_PLOT_BOTTOM - _PLOT_TOP) / top_value

    parts = _open(chart_id, "bars", title, desc, _plot_height(series))
    parts += _value_axis(top_value, intervals, y_label, fmt)
    parts += _category_axis(labels, centres, x_label, axis_label)
    stacked = [0.0] * count
    for position, one in enumerate(series):
        colour = _colour(position)
        parts.append(f'<g class="series series-{position}" data-series="{escape(one.name)}">')
        for i, value in enumerate(one.values):
            if not value:
                continue
            y = _PLOT_BOTTOM - (stacked[i] + value) * scale
            parts.append(
                f'<rect class="bar series-{position}" x="{_fmt(centres[i] - bar / 2)}" y="{_fmt(y)}" '
                f'width="{_fmt(bar)}" height="{_fmt(max(value * scale, 0.5))}" fill="{colour}">'
                f"<title>{escape(one.name)}, {escape(labels[i])}: {_exact(value)}</title></rect>"
            )
            stacked[i] += value
        parts.append("</g>")
    return _plot_close(parts, series, _table(title, table_summary, x_label, labels, series, total_label))


def gauge(
    chart_id: str,
    title: str,
    desc: str,
    value: float,
    maximum: float,
    *,
    value_label: str,
    maximum_label: str,
    empty: str,
    table_summary: str,
    fmt: Callable[[float], str] = short_number,
    warn_at: float = 0.8,
) -> str:
    """A horizontal bar filled to ``value / maximum`` (an error ratio, LMDB used / map size), with the percentage.

    At or above ``warn_at`` of the maximum the fill takes the class
    ``gauge-warn`` (and a warning colour). ``maximum`` not above zero draws
    the ``empty`` text instead.
    """
    if maximum <= 0:
        return _empty(chart_id, "gauge", title, desc, empty)
    ratio = min(max(value / maximum, 0.0), 1.0)
    percent = 100.0 * value / maximum
    percent_text = f"{percent:.1f}%" if percent >= 0.1 or percent == 0 else f"{percent:.2g}%"
    track = _PLOT_WIDTH
    height = 64
    warn = ratio >= warn_at
    fill_class = "gauge-fill gauge-warn" if warn else "gauge-fill"
    colour = "#d55e00" if warn else "#009e73"
    parts = _open(chart_id, "gauge", title, desc, height)
    parts.append(
        f'<rect class="gauge-track" x="{_LEFT}" y="8" width="{track}" height="20" fill="#eeeeee" stroke="#999999"/>'
    )
    parts.append(
        f'<rect class="{fill_class}" x="{_LEFT}" y="8" width="{_fmt(max(track * ratio, 0.5))}" height="20" '
        f'fill="{colour}"><title>{escape(value_label)}: {escape(fmt(value))}</title></rect>'
    )
    parts.append(
        f'<text class="gauge-percent" x="{_LEFT - 6}" y="23" text-anchor="end" font-size="12" '
        f'fill="#222222">{escape(percent_text)}</text>'
    )
    parts.append(
        f'<text class="gauge-text" x="{_LEFT}" y="48" font-size="12" fill="#222222">'
        f"{escape(value_label)}: {escape(fmt(value))} / {escape(maximum_label)}: {escape(fmt(maximum))}</text>"
    )
    parts.append("</svg>")
    parts += [
        '<details class="chart-data">',
        f"<summary>{escape(table_summary)}</summary>",
        f"<table><caption>{escape(title)}</caption><tbody>",
        f'<tr><th scope="row">{escape(value_label)}</th><td>{_exact(value)}</td></tr>',
        f'<tr><th scope="row">{escape(maximum_label)}</th><td>{_exact(maximum)}</td></tr>',
        f'<tr><th scope="row">%</th><td>{escape(percent_text)}</td></tr>',
        "</tbody></table></details>",
        "</figure>",
    ]
    return "\n".join(parts)
