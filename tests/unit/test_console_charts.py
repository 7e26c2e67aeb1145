"""Unit tests of the console's inline SVG charts: structure, scaling, escaping, empty data, short numbers."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from idnode.resolver.http.console import charts
from idnode.resolver.http.console.charts import Series

SVG = "{http://www.w3.org/2000/svg}"
TEXTS = {"x_label": "Day", "y_label": "Resolutions", "empty": "no data yet", "table_summary": "Data as a table"}


def parse(fragment: str) -> ET.Element:
    """The fragment is well-formed XML (so also well-formed HTML), or this fails."""
    return ET.fromstring(fragment)


def svg_of(figure: ET.Element) -> ET.Element:
    found = figure.find(f"{SVG}svg")
    assert found is not None
    return found


def points_of(polyline: ET.Element) -> list[tuple[float, float]]:
    return [tuple(float(c) for c in pair.split(",")) for pair in polyline.get("points").split()]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (7, "7"),
        (950, "950"),
        (999, "999"),
        (1000, "1k"),
        (1234, "1.2k"),
        (12_345, "12.3k"),
        (99_960, "100k"),
        (123_456, "123k"),
        (999_999, "1M"),
        (3_400_000, "3.4M"),
        (1_500_000_000, "1.5G"),
        (0.25, "0.25"),
        (2.5, "2.5"),
        (-1234, "-1.2k"),
    ],
)
def test_short_number(value, text):
    assert charts.short_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(512, "512 B"), (1536, "1.5 KiB"), (12 << 20, "12.0 MiB"), (1 << 30, "1.0 GiB"), (300 << 30, "300 GiB")],
)
def test_short_bytes(value, text):
    assert charts.short_bytes(value) == text


@pytest.mark.parametrize(
    ("value", "whole", "scale"),
    [
        (0, True, (1, 1)),
        (1, True, (1, 1)),
        (5, True, (6, 3)),  # steps of 2: no 1.25 ticks for counts
        (7, True, (8, 4)),
        (12, True, (15, 3)),
        (40, True, (40, 4)),
        (100, True, (100, 4)),
        (999, True, (1000, 4)),
        (1001, True, (1500, 3)),
        (3_400_000, True, (4_000_000, 4)),
        (0.3, False, (0.3, 3)),
    ],
)
def test_nice_scale(value, whole, scale):
    top, intervals = charts.nice_scale(value, whole)
    assert (top, intervals) == (pytest.approx(scale[0]), scale[1])


def test_line_chart_structure_and_scaling():
    days = ["2026-11-27", "2026-11-28", "2026-11-29"]
    html = charts.line_chart(
        "res",
        "Resolutions per day",
        "Answers per day and front end",
        days,
        [Series("grpc", (0, 50, 100)), Series("dns", (10, None, 20))],
        **TEXTS,
    )
    figure = parse(html)
    svg = svg_of(figure)
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == "Resolutions per day"
    assert svg.find(f"{SVG}title").text == "Resolutions per day"
    assert svg.find(f"{SVG}desc").text == "Answers per day and front end"
    assert "style" not in html  # the CSP forbids inline styles
    lines = svg.findall(f".//{SVG}polyline")
    # grpc: one run of three points; dns: the gap splits it into two runs of one point each
    assert [len(points_of(p)) for p in lines] == [3, 1, 1]
    grpc = points_of(lines[0])
    # axis top 100 (nice ceiling of 100): 0 at the plot bottom, 100 at the plot top, x spread evenly
    bottom, top = charts.HEIGHT - charts._BOTTOM, charts._TOP
    assert [y for _, y in grpc] == [bottom, (bottom + top) / 2, top]
    assert grpc[0][0] == charts._LEFT and grpc[-1][0] == charts.WIDTH - charts._RIGHT
    assert len(svg.findall(f".//{SVG}circle")) == 5  # one per known value
    # axis labels: five ticks in short numbers
    ticks = [t.text for t in svg.find(f"{SVG}g[@class='axis axis-y']").findall(f"{SVG}text[@class='tick']")]
    assert ticks == ["0", "25", "50", "75", "100"]
    legend = [t.text for t in svg.find(f"{SVG}g[@class='legend']").findall(f"{SVG}text")]
    assert legend == ["grpc", "dns"]
    # the table alternative: header row plus a row per day, exact figures, a dash for the unknown day
    table = figure.find("details/div/table")
    assert [th.text for th in table.find("thead/tr")] == ["Day", "grpc", "dns"]
    rows = table.findall("tbody/tr")
    assert [[c.text for c in row] for row in rows] == [
        ["2026-11-27", "0", "10"],
        ["2026-11-28", "50", "–"],
        ["2026-11-29", "100", "20"],
    ]
    assert figure.find("details/summary").text == "Data as a table"
    assert figure.find("figcaption").text == "Resolutions per day"  # the title, visible
    x_ticks = svg.find(f"{SVG}g[@class='axis axis-x']").findall(f"{SVG}text[@class='tick']")
    assert [t.get("text-anchor") for t in x_ticks] == ["start", "middle", "end"]  # edge labels stay inside


def test_line_chart_area_and_large_numbers():
    html = charts.line_chart("a", "t", "d", ["d1", "d2"], [Series("s", (1_200, 3_400_000))], area=True, **TEXTS)
    svg = svg_of(parse(html))
    assert len(svg.findall(f".//{SVG}polygon")) == 1
    ticks = [t.text for t in svg.findall(f".//{SVG}g[@class='axis axis-y']/{SVG}text[@class='tick']")]
    assert ticks == ["0", "1M", "2M", "3M", "4M"]
    assert "3,400,000" in html  # the table keeps exact figures


def test_many_days_thin_the_axis_labels():
    days = [f"d{i:02d}" for i in range(90)]
    html = charts.line_chart("m", "t", "d", days, [Series("s", tuple(range(90)))], **TEXTS)
    svg = svg_of(parse(html))
    labels = [t.text for t in svg.findall(f".//{SVG}g[@class='axis axis-x']/{SVG}text[@class='tick']")]
    assert labels[0] == "d00" and labels[-1] == "d89"
    assert len(labels) <= charts._MAX_X_LABELS + 1
    assert len(points_of(svg.find(f".//{SVG}polyline"))) == 90


def test_stacked_bars_structure_and_stacking():
    html = charts.stacked_bars(
        "bars",
        "Per prefix",
        "Resolutions per prefix, stacked by front end",
        ["88.118.8", "88.118.9"],
        [Series("grpc", (30, 0)), Series("dns", (10, 20)), Series("http", (None, 0))],
        total_label="Total",
        **TEXTS,
    )
    figure = parse(html)
    svg = svg_of(figure)
    rects = svg.findall(f".//{SVG}g[@class]/{SVG}rect[@class]")
    bars = [r for r in rects if "bar" in r.get("class").split()]
    assert len(bars) == 3  # zero and unknown values draw no segment
    first_grpc, first_dns, second_dns = bars
    # axis top 40 (the tallest stack, a whole number of steps of 10); the dns segment sits on top of grpc's
    plot = charts.HEIGHT - charts._BOTTOM - charts._TOP
    assert float(first_grpc.get("height")) == pytest.approx(plot * 30 / 40, abs=0.05)
    assert float(first_dns.get("height")) == pytest.approx(plot * 10 / 40, abs=0.05)
    assert float(first_dns.get("y")) + float(first_dns.get("height")) == pytest.approx(
        float(first_grpc.get("y")), abs=0.1
    )
    assert float(second_dns.get("x")) > float(first_dns.get("x"))
    assert all(float(b.get("width")) > 0 for b in bars)
    rows = figure.findall("details/div/table/tbody/tr")
    assert [[c.text for c in row] for row in rows] == [
        ["88.118.8", "30", "10", "–", "40"],
        ["88.118.9", "0", "20", "0", "20"],
    ]


def test_names_are_escaped():
    nasty = '<script>alert("x")</script>&'
    html = charts.stacked_bars(
        "e", nasty, nasty, [nasty], [Series(nasty, (5,))], total_label="Total", **TEXTS
    ) + charts.line_chart("f", nasty, nasty, [nasty], [Series(nasty, (5,))], **TEXTS)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    figure = parse(charts.stacked_bars("e", "t", "d", [nasty], [Series(nasty, (5,))], total_label="T", **TEXTS))
    assert svg_of(figure).find(f".//{SVG}g[@class='legend']/{SVG}text").text == nasty


@pytest.mark.parametrize(
    "make",
    [
        lambda: charts.line_chart("x", "T", "D", [], [], **TEXTS),
        lambda: charts.line_chart("x", "T", "D", ["d1"], [Series("s", (None,))], **TEXTS),
        lambda: charts.stacked_bars("x", "T", "D", ["p"], [Series("s", (0,))], total_label="Σ", **TEXTS),
        lambda: charts.gauge(
            "x", "T", "D", 0, 0, value_label="v", maximum_label="m", empty="no data yet", table_summary="s"
        ),
    ],
)
def test_empty_data_says_so(make):
    figure = parse(make())
    svg = svg_of(figure)
    assert svg.find(f"{SVG}text[@class='chart-empty']").text == "no data yet"
    assert svg.find(f"{SVG}title").text == "T"
    assert not svg.findall(f".//{SVG}polyline") and not svg.findall(f".//{SVG}rect")


def test_series_length_must_match():
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        charts.line_chart("x", "T", "D", ["a", "b", "c"], [Series("s", (1, 2))], **TEXTS)


def test_gauge_ratio_and_warning():
    kwargs = {"value_label": "Used", "maximum_label": "Map size", "empty": "-", "table_summary": "s"}
    low = svg_of(parse(charts.gauge("g", "LMDB", "used of map", 256 << 20, 1 << 30, fmt=charts.short_bytes, **kwargs)))
    track, fill = low.findall(f"{SVG}rect")
    assert float(fill.get("width")) == pytest.approx(float(track.get("width")) / 4, abs=0.05)
    assert fill.get("class") == "gauge-fill"
    assert low.find(f"{SVG}text[@class='gauge-percent']").text == "25.0%"
    assert low.find(f"{SVG}text[@class='gauge-text']").text == "Used: 256 MiB / Map size: 1.0 GiB"
    high = svg_of(parse(charts.gauge("g", "Errors", "ratio", 9, 10, **kwargs)))
    assert high.findall(f"{SVG}rect")[1].get("class") == "gauge-fill gauge-warn"
    over = svg_of(parse(charts.gauge("g", "E", "r", 30, 10, **kwargs)))
    track, fill = over.findall(f"{SVG}rect")
    assert fill.get("width") == track.get("width")  # clamped to the track


def test_output_is_deterministic():
    def make():
        return charts.line_chart("x", "T", "D", ["a", "b"], [Series("s", (1, 2)), Series("t", (3, 4))], **TEXTS)

    assert make() == make()


def test_axis_labels_can_be_shortened_and_never_crowd():
    days = [f"2026-11-{d:02d}" for d in range(1, 31)]
    html = charts.line_chart(
        "s", "t", "d", days, [Series("s", tuple(range(30)))], axis_label=lambda day: day[5:], **TEXTS
    )
    figure = parse(html)
    ticks = svg_of(figure).findall(f".//{SVG}g[@class='axis axis-x']/{SVG}text[@class='tick']")
    assert ticks[0].text == "11-01" and ticks[-1].text == "11-30"
    xs = [float(t.get("x")) for t in ticks]
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 5 * 6.5  # room for each label
    assert figure.findall("details/div/table/tbody/tr/th")[0].text == "2026-11-01"  # the table keeps the date
