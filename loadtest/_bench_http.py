"""`idnode bench --http`: the node's HTTP read path against its own gRPC Resolve, same node, same run.

The HTTP load process (spawned; an aiohttp client on its own event loop)
keeps ``concurrency`` requests in flight for ``--seconds``, one HTTP/1.1
keep-alive connection per request in flight (HTTP/1.1 has no multiplexing;
SO_REUSEPORT spreads the connections over the node's workers), each
request for a random handle of the loaded pool, and checks every reply:

- ``api``: ``GET /api/handles/{handle}`` -> 200, JSON ``responseCode`` 1 and
  the handle asked for;
- ``page``: ``GET /{handle}?noredirect`` with ``Accept: application/json`` ->
  the same;
- ``redirect``: ``GET /{handle}`` -> 302 with ``Location`` the item's URL value.

The gRPC figures come from the bench's own load process (unary
``Resolve`` at the same concurrency), in rounds interleaved with the HTTP
runs, against the same node. The pure parts (paths, reply checks, the
banner's port, figures, table) are tested without servers.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import resource
import sys
import time
import urllib.parse
from multiprocessing.connection import Connection
from typing import Any

from idnode.loadtest import _bench_report as report
from idnode.loadtest._bench_load import percentile

__all__ = ["KINDS", "HttpBench", "check_reply", "figures", "http_port_of", "render", "request_path", "serve"]

KINDS = ("api", "page", "redirect")
CALL_TIMEOUT = 10.0
_BANNER = re.compile(r"HTTP listening on (?:\[[^\]]+\]|[^ :]+):(\d+)")
_ERROR_SAMPLES = 3
_JSON = {"Accept": "application/json"}
_LABELS = {
    "api": "GET /api/handles/{handle}",
    "page": "GET /{handle}?noredirect (JSON)",
    "redirect": "GET /{handle} (302)",
}


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


# -- pure parts ------------------------------------------------------------------------


def request_path(kind: str, handle: str) -> str:
    """The request target for ``handle``: its '/' kept, anything else outside URL path characters escaped."""
    quoted = urllib.parse.quote(handle, safe="/:@!$&'()*+,;=-._~")
    if kind == "api":
        return "/api/handles/" + quoted
    if kind == "page":
        return "/" + quoted + "?noredirect"
    if kind == "redirect":
        return "/" + quoted
    raise ValueError(f"unknown HTTP kind {kind!r}; expected one of {', '.join(KINDS)}")


def check_reply(kind: str, status: int, body: bytes, location: str | None, handle: str, url: str) -> str:
    """What is wrong with a reply ('' when nothing): status, JSON response code and handle, or Location."""
    if kind == "redirect":
        if status != 302:
            return f"status {status}, expected 302"
        if location != url:
            return f"Location {location!r}, expected {url!r}"
        return ""
    if status != 200:
        return f"status {status}: {body[:120]!r}"
    try:
        reply = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:120]!r}"
    if not isinstance(reply, dict) or reply.get("responseCode") != 1:
        return f"responseCode {reply.get('responseCode') if isinstance(reply, dict) else reply!r}"
    if reply.get("handle") != handle:
        return f"reply for {reply.get('handle')!r}, asked {handle!r}"
    if not reply.get("values"):
        return "no values"
    return ""


def http_port_of(lines: list[str]) -> int | None:
    """The port of the node's ``HTTP listening on HOST:PORT`` line, or None when it has not printed it."""
    for line in lines:
        match = _BANNER.search(line)
        if match:
            return int(match.group(1))
    return None


def series_name(kind: str, level: int) -> str:
    """The run series of one HTTP kind at one concurrency (``grpc`` for the node's Resolve beside them)."""
    return f"http-{kind}@{level}" if kind != "grpc" else f"http-grpc@{level}"


def figures(runs: list[dict[str, Any]], kinds: list[str], levels: list[int], connections: str) -> dict[str, Any]:
    """The comparison's figures from the run records (outliers already flagged by the caller).

    Per kind and level: requests/s, p50/p99, CPU and requests per server
    CPU-second of HTTP and of gRPC Resolve at the same concurrency, and
    their ratios; the headline ``http_vs_grpc`` is the first kind's best
    level against gRPC's best level.
    """
    by_series: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run["series"].startswith("http-"):
            by_series.setdefault(run["series"], []).append(run)
    series = {name: report.series_summary(rs) for name, rs in by_series.items()}
    rows = []
    for kind in kinds:
        for level in levels:
            http, grpc = series.get(series_name(kind, level)), series.get(series_name("grpc", level))
            rows.append(
                {
                    "kind": kind,
                    "concurrency": level,
                    "http_rps": http and http["rate"],
                    "grpc_rps": grpc and grpc["rate"],
                    "http_vs_grpc": report.ratio(http and http["rate"], grpc and grpc["rate"]),
                    "http_p50_ms": http and http["p50_ms"],
                    "http_p99_ms": http and http["p99_ms"],
                    "grpc_p50_ms": grpc and grpc["p50_ms"],
                    "grpc_p99_ms": grpc and grpc["p99_ms"],
                    "http_server_cpu": http and http["server_cpu"],
                    "http_client_cpu": http and http["client_cpu"],
                    "grpc_server_cpu": grpc and grpc["server_cpu"],
                    "grpc_client_cpu": grpc and grpc["client_cpu"],
                    "http_per_server_cpu_s": http and http["items_per_server_cpu_s"],
                    "grpc_per_server_cpu_s": grpc and grpc["items_per_server_cpu_s"],
                    "http_vs_grpc_per_cpu": report.ratio(
                        http and http["items_per_server_cpu_s"], grpc and grpc["items_per_server_cpu_s"]
                    ),
                    "good_runs": f"{http['good_runs'] if http else 0}/{http['runs'] if http else 0}, "
                    f"{grpc['good_runs'] if grpc else 0}/{grpc['runs'] if grpc else 0}",
                }
            )
    out: dict[str, Any] = {"levels": rows, "kinds": kinds, "connections": connections}
    first = [r for r in rows if r["kind"] == (kinds[0] if kinds else "")]
    best_http = max(first, key=lambda r: r["http_rps"] or 0.0, default=None)
    best_grpc = max(first, key=lambda r: r["grpc_rps"] or 0.0, default=None)
    out["http_rps"] = best_http and best_http["http_rps"]
    out["http_peak_concurrency"] = best_http and best_http["concurrency"]
    out["grpc_rps"] = best_grpc and best_grpc["grpc_rps"]
    out["grpc_peak_concurrency"] = best_grpc and best_grpc["concurrency"]
    out["http_vs_grpc"] = report.ratio(out["http_rps"], out["grpc_rps"])
    out["series"] = series
    out["flagged_runs"] = [
        {k: r.get(k) for k in ("series", "round", "flags", "rate", "errors", "error_samples")}
        for r in runs
        if r["series"].startswith("http-") and not report.good(r) and "warmup" not in r["series"]
    ]
    out["client_bound"] = sorted(name for name, x in series.items() if x["client_bound_runs"] and "warmup" not in name)
    return out


def render(fig: dict[str, Any], markdown: bool = False) -> str:
    """The comparison as a table (plain text or Markdown), with flagged runs and client-bound notes."""
    fmt = report.fmt
    tab = report.markdown_table if markdown else report.table
    headers = [
        "HTTP request",
        "in flight",
        "HTTP req/s",
        "gRPC Resolve/s",
        "HTTP / gRPC",
        "p50/p99 ms HTTP",
        "p50/p99 ms gRPC",
        "CPU srv/cli HTTP",
        "CPU srv/cli gRPC",
        "per srv CPU-s HTTP / gRPC",
        "good runs",
    ]
    rows = []
    for r in fig["levels"]:
        rows.append(
            [
                _LABELS.get(r["kind"], r["kind"]),
                str(r["concurrency"]),
                fmt(r["http_rps"]),
                fmt(r["grpc_rps"]),
                fmt(r["http_vs_grpc"], "x"),
                f"{fmt(r['http_p50_ms'], 'ms')}/{fmt(r['http_p99_ms'], 'ms')}",
                f"{fmt(r['grpc_p50_ms'], 'ms')}/{fmt(r['grpc_p99_ms'], 'ms')}",
                f"{fmt(r['http_server_cpu'], 'cores')}/{fmt(r['http_client_cpu'], 'cores')}",
                f"{fmt(r['grpc_server_cpu'], 'cores')}/{fmt(r['grpc_client_cpu'], 'cores')}",
                f"{fmt(r['http_per_server_cpu_s'])} / {fmt(r['grpc_per_server_cpu_s'])} "
                f"({fmt(r['http_vs_grpc_per_cpu'], 'x')})",
                r["good_runs"],
            ]
        )
    lines = [
        f"HTTP read path vs gRPC Resolve, same node ({fig['connections']}): "
        f"{fmt(fig['http_rps'])} req/s at {fig['http_peak_concurrency']} in flight vs "
        f"{fmt(fig['grpc_rps'])} Resolve/s at {fig['grpc_peak_concurrency']}: {fmt(fig['http_vs_grpc'], 'x')}",
        "",
        tab(headers, rows),
    ]
    item = "- " if markdown else "  "
    if fig["flagged_runs"]:
        lines += ["", f"flagged HTTP-part runs ({len(fig['flagged_runs'])}, left out of the medians):"]
        for r in fig["flagged_runs"]:
            detail = "; ".join(r.get("error_samples") or [])
            lines.append(
                f"{item}{r['series']} round {r.get('round')}: {','.join(r['flags'])} rate {fmt(r['rate'])}"
                + (f" ({detail})" if detail else "")
            )
    if fig["client_bound"]:
        lines += [
            "",
            "client-bound (the load process at >= 0.9 core; a lower bound): " + ", ".join(fig["client_bound"]),
        ]
    return "\n".join(lines)


# -- the comparison ------------------------------------------------------------------------


class HttpBench:
    """The HTTP part of one bench run: its load process and interleaved rounds against the bench's node.

    Args:
        bench: the running :class:`idnode.loadtest.bench.Bench` (its node, gRPC load process and ``measure``).
        load_client: makes a load process running a given ``serve`` function (``bench.LoadClient``).
    """

    def __init__(self, bench: Any, load_client: Any) -> None:
        self.bench = bench
        self.args = bench.args
        self.kinds: list[str] = list(self.args.http_kinds)
        self.levels: list[int] = list(self.args.http_levels)
        self._make_load = load_client
        self.load: Any = None
        self.port = 0

    def start(self, prefix: str, timeout: float = 10.0) -> None:
        """Learn the node's HTTP port from its banner and start the HTTP load process on the same pool."""
        node = self.bench.node
        deadline = time.monotonic() + timeout
        while (port := http_port_of(node.lines)) is None:  # the banner follows the gRPC one
            if time.monotonic() > deadline or not node.alive():
                raise RuntimeError(f"the node printed no 'HTTP listening on' line: {' | '.join(node.lines[-8:])}")
            time.sleep(0.05)
        self.port = port
        self.load = self._make_load(serve)
        args = self.args
        task = {"op": "prepare", "args": {"count": args.count, "prefix": prefix, "seed": args.seed, "pool": args.pool}}
        prepared = self.load.run(task, 120 + args.pool / 500)
        if not prepared.get("ok"):
            raise RuntimeError(f"HTTP load process: {prepared.get('error')}")

    def _http(self, kind: str, level: int, series: str, r: int) -> None:
        task = {"op": "closed", "kind": kind, "port": self.port, "concurrency": level, "seconds": self.args.seconds}
        self.bench.measure(
            series, task, self.bench.node, load=self.load, target="idnode-http", concurrency=level, round=r
        )

    def _grpc(self, level: int, series: str, r: int) -> None:
        self.bench.closed("resolve", "idnode", self.bench.node, level, series=series, round=r)

    def rounds(self) -> None:
        """A warm-up of each, then ``--rounds`` rounds: per level every HTTP kind and gRPC Resolve, order rotating."""
        top = max(self.levels)
        for kind in self.kinds:
            self._http(kind, top, f"http-warmup-{kind}", -1)
        self._grpc(top, "http-warmup-grpc", -1)
        order = [*self.kinds, "grpc"]
        for r in range(self.args.rounds):
            _say(f"HTTP round {r + 1} of {self.args.rounds}")
            turn = order[r % len(order) :] + order[: r % len(order)]
            for level in self.levels:
                for kind in turn:
                    if kind == "grpc":
                        self._grpc(level, series_name("grpc", level), r)
                    else:
                        self._http(kind, level, series_name(kind, level), r)

    def close(self) -> None:
        if self.load is not None:
            self.load.close()
            self.load = None


# -- the load process ---------------------------------------------------------------------


class _Pool:
    """The handles requested and the URL each redirect must name (item ``n``'s URL value)."""

    def __init__(self, count: int, prefix: str, seed: int, pool: int) -> None:
        from idnode.loadtest import datagen

        rnd = random.Random(seed)
        indexes = rnd.sample(range(count), max(1, min(pool, count)))
        self.handles = [datagen.handle_of(n, prefix, seed) for n in indexes]
        self.urls = [datagen.item(n, prefix, seed).values[0].data.decode() for n in indexes]  # type: ignore[union-attr]
        self.paths = {kind: [request_path(kind, h) for h in self.handles] for kind in KINDS}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _closed_loop(task: dict[str, Any], pool: _Pool) -> dict[str, Any]:
    """``concurrency`` requests outstanding for ``seconds`` on as many connections; every reply checked."""
    import aiohttp

    kind, concurrency, seconds = task["kind"], task["concurrency"], task["seconds"]
    base = f"http://127.0.0.1:{task['port']}"
    paths, handles, urls = pool.paths[kind], pool.handles, pool.urls
    headers = _JSON if kind == "page" else {}
    n = len(paths)
    calls = errors = 0
    samples: list[str] = []
    latencies: list[float] = []
    perf = time.perf_counter
    deadline = 0.0

    async def worker(session: aiohttp.ClientSession, w: int) -> None:
        nonlocal calls, errors
        rnd = random.Random(w)
        while perf() < deadline:
            j = rnd.randrange(n)
            t0 = perf()
            try:
                async with session.get(base + paths[j], headers=headers, allow_redirects=False) as reply:
                    body = await reply.read()
                    problem = check_reply(kind, reply.status, body, reply.headers.get("Location"), handles[j], urls[j])
            except (TimeoutError, aiohttp.ClientError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            latencies.append(perf() - t0)
            calls += 1
            if problem:
                errors += 1
                if len(samples) < _ERROR_SAMPLES:
                    samples.append(problem[:200])

    async def connect(session: aiohttp.ClientSession) -> None:
        async with session.get(base + "/healthz") as reply:
            await reply.read()

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        # Open every connection before the clock starts (one request each, not counted).
        await asyncio.wait_for(asyncio.gather(*(connect(session) for _ in range(concurrency))), CALL_TIMEOUT)
        cpu0, t0 = _cpu(), perf()
        deadline = t0 + seconds
        await asyncio.wait_for(
            asyncio.gather(*(worker(session, w) for w in range(concurrency))), seconds + CALL_TIMEOUT + 5
        )
        elapsed, cpu = perf() - t0, _cpu() - cpu0
    latencies.sort()
    return {
        "calls": calls,
        "items": calls,
        "errors": errors,
        "error_samples": samples,
        "elapsed": elapsed,
        "rate": calls / elapsed if elapsed > 0 else 0.0,
        "client_cpu": cpu / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
    }


def serve(conn: Connection) -> None:
    """Answer tasks from the bench process until it sends ``None`` or goes away (as ``_bench_load.serve``)."""
    loop = asyncio.new_event_loop()
    pool: _Pool | None = None
    try:
        while True:
            try:
                task = conn.recv()
            except EOFError:
                return
            if task is None:
                return
            try:
                if task["op"] == "prepare":
                    pool = _Pool(**task["args"])
                    result: dict[str, Any] = {"pool": len(pool.handles)}
                elif pool is None:
                    raise RuntimeError("prepare first")
                elif task["op"] == "closed":
                    result = loop.run_until_complete(_closed_loop(task, pool))
                else:
                    raise ValueError(f"unknown task {task['op']!r}")
                conn.send({"ok": True, **result})
            except Exception as exc:  # reported to the bench process, which flags the run
                conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        loop.close()
