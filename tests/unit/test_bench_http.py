"""`idnode bench --http`: its pure parts (paths, reply checks, the banner's port, figures, table, options)."""

from __future__ import annotations

import json

import pytest

from idnode.loadtest import _bench_http as http
from idnode.loadtest import _bench_report as report
from idnode.loadtest.bench import parse_args

HANDLE = "88.118.8/sn/2026/W12/Ab x%1"
URL = "https://example.com/p/1"


def test_request_paths_keep_the_slash_and_escape_the_rest():
    assert http.request_path("api", HANDLE) == "/api/handles/88.118.8/sn/2026/W12/Ab%20x%251"
    assert http.request_path("page", "88.118.8/A-1") == "/88.118.8/A-1?noredirect"
    assert http.request_path("redirect", "88.118.8/A.1_~") == "/88.118.8/A.1_~"
    with pytest.raises(ValueError, match="unknown HTTP kind"):
        http.request_path("post", HANDLE)


def body(**fields):
    return json.dumps({"responseCode": 1, "handle": HANDLE, "values": [{"index": 1}], **fields}).encode()


@pytest.mark.parametrize(
    ("kind", "status", "payload", "location", "problem"),
    [
        ("api", 200, body(), None, ""),
        ("page", 200, body(), None, ""),
        ("api", 404, b'{"responseCode":100}', None, "status 404"),
        ("api", 200, b"<html>", None, "not JSON"),
        ("api", 200, body(responseCode=2), None, "responseCode 2"),
        ("api", 200, body(handle="88.118.8/OTHER"), None, "reply for '88.118.8/OTHER'"),
        ("api", 200, body(values=[]), None, "no values"),
        ("api", 200, b"[1]", None, "responseCode [1]"),
        ("redirect", 302, b"", URL, ""),
        ("redirect", 200, body(), None, "status 200, expected 302"),
        ("redirect", 302, b"", "https://elsewhere/", "Location 'https://elsewhere/'"),
    ],
)
def test_every_reply_is_checked(kind, status, payload, location, problem):
    found = http.check_reply(kind, status, payload, location, HANDLE, URL)
    assert found.startswith(problem) and bool(found) == bool(problem)


def test_the_port_comes_from_the_banner():
    lines = ["idnode: gRPC listening on 127.0.0.1:50051 (...)", "idnode: HTTP listening on 127.0.0.1:8123 (http)"]
    assert http.http_port_of(lines) == 8123
    assert http.http_port_of(["idnode: HTTP listening on [::1]:9000 (https)"]) == 9000
    assert http.http_port_of(lines[:1]) is None


def run(series, rate, server_cpu=1.0, flags=(), p99=10.0, r=0):
    return {
        "series": series,
        "round": r,
        "rate": rate,
        "errors": 0,
        "server_cpu": server_cpu,
        "client_cpu": 0.5,
        "p50_ms": p99 / 2,
        "p99_ms": p99,
        "items_per_server_cpu_s": rate / server_cpu,
        "flags": list(flags),
    }


def test_figures_pair_each_http_kind_with_grpc_at_the_same_level():
    runs = [run("http-warmup-api", 1.0, flags=["outlier"], r=-1)]
    for r in range(3):
        runs += [run("http-api@16", 3000 + r, 0.6, r=r), run("http-grpc@16", 2900 + r, 1.0, r=r)]
        runs += [run("http-api@64", 3300 + r, 0.7, r=r), run("http-grpc@64", 3100 + r, 1.1, r=r)]
        runs += [run("http-page@16", 3500, 0.6, r=r), run("http-page@64", 3600, 0.6, r=r)]
    runs.append(run("http-api@64", 10, 0.7, flags=["contended"], r=3))
    fig = http.figures(runs, ["api", "page"], [16, 64], "HTTP/1.1")
    api64 = next(x for x in fig["levels"] if x["kind"] == "api" and x["concurrency"] == 64)
    assert api64["http_rps"] == 3301 and api64["grpc_rps"] == 3101
    assert api64["http_vs_grpc"] == pytest.approx(3301 / 3101)
    assert api64["http_vs_grpc_per_cpu"] == pytest.approx((3301 / 0.7) / (3101 / 1.1))
    assert api64["good_runs"] == "3/4, 3/3"
    assert fig["http_rps"] == 3301 and fig["http_peak_concurrency"] == 64 and fig["grpc_peak_concurrency"] == 64
    assert fig["http_vs_grpc"] == pytest.approx(3301 / 3101)
    assert [r["series"] for r in fig["flagged_runs"]] == ["http-api@64"]  # warm-ups never listed
    text = http.render(fig)
    assert "GET /api/handles/{handle}" in text and "1.06x" in text and "contended" in text
    markdown = http.render(fig, markdown=True)
    assert markdown.count("| GET /") == 4 and "| --- |" in markdown


def test_figures_without_runs_say_nothing_was_measured():
    fig = http.figures([], ["api"], [16], "HTTP/1.1")
    assert fig["http_rps"] is None and fig["http_vs_grpc"] is None
    assert report.fmt(fig["levels"][0]["http_rps"]) == "-"
    assert "GET /api/handles/{handle}" in http.render(fig)


def test_options():
    args = parse_args(["--http-only", "--http-levels", "64,16,16", "--http-kinds", "api, redirect"])
    assert args.http and args.http_only and args.http_levels == [16, 64] and args.http_kinds == ["api", "redirect"]
    assert parse_args([]).http is False and parse_args([]).http_kinds == ["api"]
    for bad in (["--http-kinds", "post"], ["--http-levels", "0"], ["--http-levels", "x"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
    with pytest.raises(SystemExit):
        parse_args(["--http-only", "--dns-only"])
