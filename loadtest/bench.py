"""`idnode bench`: the node against its two limits, side by side, in one run.

    idnode bench [--quick] [--count N] [--rounds R] [--seconds S] [--workers W] [--json FILE]

One run:

1. generates ``--count`` realistic identifiers (:mod:`idnode.loadtest.datagen`,
   3-6 values each) and loads them straight into a fresh data folder through
   the registry (Store + Writer + Registry in this process, BatchCreate of
   2000), before any server starts;
2. starts the node on that folder (``idnode serve --workers W``), a load
   process (grpc.aio, several channels: SO_REUSEPORT balances per connection)
   and the framework floor: a bare grpc.aio echo server with the same
   pass-through serializers, worker count and load client, answering with
   the node's real reply bytes;
3. interleaves rounds (node and echo alternate who goes first): unary Resolve
   at several concurrency levels, BatchResolve (100 per call), ResolveStream
   (100 per message), a mix with 10% unknown handles, raw py-lmdb random gets
   on the node's own keys (the storage limit for reads), an import through
   the Registry API (BatchCreate, as ``idnode import`` sends it) and raw
   sorted ``putmulti`` of the same rows (the storage limit for writes);
4. measures Resolve latency under open-loop load at half the peak rate;
5. restarts the node with the other worker count (1 or 2) for calls per
   server CPU-second;
6. prints every figure, ratio, target (PASS / MISS) and the compiled/twin
   speed-up per fast-path function; ``--json FILE`` writes them as one object.

``--replica`` (or ``--replica-only``) adds read replicas: log replay, visibility lag under a steady write
rate, catch-up apply rate and snapshot bootstrap of ``--count`` identifiers (:mod:`._bench_replica`).

``--reg-counter-only`` measures the registration day counters on the write path, on against off, in this
process (:mod:`._bench_counters`).

``--dns`` (or ``--dns-only``) adds the DNS comparison: dnsperf against idnode's DNS front end
and PowerDNS-LMDB (caches off and stock) on the same NAPTR records (:mod:`._bench_dns`).

Every run is checked (every reply is verified; errors counted) and reports
server CPU (the node's whole process tree) and client CPU; flagged runs
(errors, a starved server, outliers, a client that fell behind) are listed
and left out of the medians. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from idnode.loadtest import (
    _bench_counters,
    _bench_dns,
    _bench_health,
    _bench_http,
    _bench_metrics,
    _bench_replica,
    _bench_sync,
    datagen,
)
from idnode.loadtest import _bench_report as report
from idnode.loadtest._bench_proc import Server, system_busy_seconds, tree_cpu_seconds

NODE_PREFIX = "88.118"
DATA_PREFIX = NODE_PREFIX + ".8"  # the prefix idnode/demo.py allocates
LOAD_BATCH = 2000
UNKNOWN_POOL = 1_000_000  # items count .. count + this are never written (the mix's unknown handles)
TASK_SLACK = 120.0  # seconds a task may take beyond its planned length before the bench gives up

FULL = {"count": 1_000_000, "rounds": 5, "seconds": 4.0, "levels": "1,16,64,256", "import_rows": 100_000}
QUICK = {"count": 50_000, "rounds": 3, "seconds": 1.0, "levels": "16,128", "import_rows": 10_000}


class BenchError(Exception):
    """The bench cannot go on (a server died, the load process hung)."""


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


# -- configuration ------------------------------------------------------------------------


class _Formatter(argparse.HelpFormatter):
    """argparse help that reads like the rest of the ``idnode`` command line (click: "Usage:")."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="idnode bench",
        description="Benchmark the node against a bare grpc.aio echo server and raw LMDB, side by side.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--quick", action="store_true", help="small and short: 50k ids, 3 rounds of 1 s (< 2 min)")
    parser.add_argument("--count", type=int, help="identifiers loaded (default 1,000,000; quick 50,000)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds; medians (default 5; quick 3)")
    parser.add_argument("--seconds", type=float, help="length of each run (default 4; quick 1)")
    parser.add_argument("--levels", help="unary concurrency levels (default 1,16,64,256; quick 16,128)")
    parser.add_argument("--import-rows", type=int, help="rows per import run (default 100,000; quick 10,000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="node and echo worker processes")
    parser.add_argument("--channels", type=int, default=8, help="gRPC channels (connections) per load run")
    parser.add_argument("--batch-concurrency", type=int, default=8, help="BatchResolve calls / stream messages out")
    parser.add_argument("--pool", type=int, default=100_000, help="distinct handles requested")
    parser.add_argument("--unknown-fraction", type=float, default=0.1, help="unknown handles in the mix")
    parser.add_argument("--seed", type=int, default=datagen.DEFAULT_SEED)
    parser.add_argument("--no-efficiency", action="store_true", help="skip the 1 vs 2 workers comparison")
    parser.add_argument("--fastpath-n", type=int, help="iterations per fast-path micro-timing")
    parser.add_argument("--work-dir", help="where the data folder goes (default: a temporary folder, removed)")
    parser.add_argument(
        "--metrics-cost",
        action="store_true",
        help="also run a copy of the node with --no-metrics in the same rounds (gRPC, and DNS with --dns): "
        "the cost of metrics as a ratio",
    )
    parser.add_argument(
        "--limits-cost",
        action="store_true",
        help="as --metrics-cost, but the node runs per-client rate limits (at a rate never reached) and the copy "
        "runs without them: the cost of the limits' hot path as a ratio",
    )
    parser.add_argument(
        "--timeouts-cost",
        action="store_true",
        help="as --metrics-cost, but the copy runs with --request-timeout and --stream-idle-timeout off: "
        "the cost of the server-side deadlines as a ratio",
    )
    dns = parser.add_argument_group("DNS comparison (idnode against PowerDNS-LMDB with dnsperf)")
    dns.add_argument("--dns", action="store_true", help="also compare idnode's DNS with PowerDNS-LMDB (dnsperf)")
    dns.add_argument("--dns-only", action="store_true", help="only the DNS comparison (implies --dns)")
    dns.add_argument("--dns-clients", type=int, default=16, help="dnsperf -c: client sockets (default 16)")
    dns.add_argument("--dns-outstanding", type=int, default=100, help="dnsperf -q: queries outstanding (default 100)")
    dns.add_argument("--dns-warmup", type=float, help="warm-up pass before each DNS run, s (default 1; quick 0.5)")
    dns.add_argument("--dns-zone", default="id.local.", help="zone of the identifier names (default id.local.)")
    dns.add_argument("--pdns-receivers", type=int, help="PowerDNS receiver-threads (default: --workers)")
    dns.add_argument("--pdns-distributors", type=int, default=3, help="PowerDNS distributor-threads (default 3)")
    dns.add_argument("--dns-profile", metavar="FILE", help="py-spy an idnode worker under dnsperf, collapsed stacks")
    dns.add_argument("--dns-no-install", action="store_true", help="never apt-get install dnsperf/PowerDNS")
    web = parser.add_argument_group("HTTP comparison (the node's HTTP read path against its own gRPC Resolve)")
    web.add_argument("--http", action="store_true", help="also compare HTTP GETs with gRPC Resolve on the same node")
    web.add_argument("--http-only", action="store_true", help="only the HTTP comparison (implies --http)")
    web.add_argument("--http-levels", default="16,64", help="requests in flight, one connection each (default 16,64)")
    web.add_argument("--http-kinds", default="api", help="api, page, redirect, comma-separated (default api)")
    sync = parser.add_argument_group("hierarchy sync (a top node and nodes with --top, on loopback)")
    sync.add_argument("--sync", action="store_true", help="also measure the sync to a top node (after the other parts)")
    sync.add_argument("--sync-only", action="store_true", help="only the sync measurement (implies --sync)")
    sync.add_argument("--sync-rate", type=float, default=1000.0, help="steady registrations/s (default 1000)")
    sync.add_argument("--sync-burst", type=int, help="burst identifiers (default 100,000; quick 10,000)")
    sync.add_argument("--sync-backlog", type=int, help="backlog while the top is down (default 50,000; quick 5,000)")
    replica = parser.add_argument_group("read replicas (a primary and replicas following it, on loopback)")
    replica.add_argument("--replica", action="store_true", help="also measure read replicas (after the other parts)")
    replica.add_argument("--replica-only", action="store_true", help="only the replica measurement (implies --replica)")
    replica.add_argument("--replica-rate", type=float, default=1000.0, help="steady registrations/s (default 1000)")
    replica.add_argument(
        "--replica-backlog", type=int, help="written while a replica is down (default 100,000; quick 10,000)"
    )
    replica.add_argument("--replica-workers", type=int, default=1, help="worker processes of each replica (default 1)")
    replica.add_argument(
        "--replica-tls", action="store_true", help="also replay over mutual TLS against replays in clear (part e)"
    )
    counters = parser.add_argument_group("registration day counters (the write path, in this process)")
    counters.add_argument(
        "--reg-counter-only",
        action="store_true",
        help="only the cost of the registration day counters: --import-rows creations, counters on vs off",
    )
    parser.add_argument("--json", dest="json_path", metavar="FILE", help="write every figure as one JSON object")
    parser.add_argument("--markdown", metavar="FILE", help="write the result tables as Markdown (for a README)")
    args = parser.parse_args(argv)
    if args.limits_cost or args.timeouts_cost:  # the same side-by-side machinery, other flags (_bench_metrics)
        args.metrics_cost = True
    # the sync part's steady run: --seconds when given, else 20 s (quick 5 s)
    args.sync_seconds = args.seconds if args.seconds is not None else (5.0 if args.quick else 20.0)
    if args.sync_burst is None:
        args.sync_burst = 10_000 if args.quick else 100_000
    if args.sync_backlog is None:
        args.sync_backlog = 5_000 if args.quick else 50_000
    args.sync = args.sync or args.sync_only
    args.replica = args.replica or args.replica_only
    args.replica_seconds = args.sync_seconds  # the steady run: --seconds when given, else 20 s (quick 5 s)
    if args.replica_backlog is None:
        args.replica_backlog = 10_000 if args.quick else 100_000
    if args.replica_only and (args.dns_only or args.http_only or args.sync_only):
        parser.error("--replica-only excludes --dns-only, --http-only and --sync-only")
    if args.replica_rate <= 0 or args.replica_backlog < 1 or args.replica_workers < 1:
        parser.error("--replica-rate, --replica-backlog and --replica-workers must be positive")
    if args.sync_only and (args.dns_only or args.http_only):
        parser.error("--sync-only excludes --dns-only and --http-only")
    if args.sync_rate <= 0 or args.sync_burst < 1 or args.sync_backlog < 1:
        parser.error("--sync-rate, --sync-burst and --sync-backlog must be positive")
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.fastpath_n is None:
        args.fastpath_n = 2_000 if args.quick else 20_000
    args.dns = args.dns or args.dns_only
    args.http = args.http or args.http_only
    if args.http_only and args.dns_only:
        parser.error("--http-only and --dns-only exclude each other")
    try:
        args.http_levels = sorted({int(x) for x in str(args.http_levels).split(",") if x.strip()})
    except ValueError:
        parser.error(f"--http-levels: expected numbers separated by commas, got {args.http_levels!r}")
    if not args.http_levels or args.http_levels[0] < 1:
        parser.error("--http-levels must be positive")
    args.http_kinds = [k.strip() for k in str(args.http_kinds).split(",") if k.strip()]
    if not args.http_kinds or any(k not in _bench_http.KINDS for k in args.http_kinds):
        parser.error(f"--http-kinds: one or more of {', '.join(_bench_http.KINDS)}")
    if args.pdns_receivers is None:
        args.pdns_receivers = args.workers  # one receiving thread per core, as idnode has one worker per core
    if args.dns_warmup is None:
        args.dns_warmup = 0.5 if args.quick else 1.0
    try:
        args.levels = sorted({int(x) for x in str(args.levels).split(",") if x.strip()})
    except ValueError:
        parser.error(f"--levels: expected numbers separated by commas, got {args.levels!r}")
    names = ("count", "rounds", "import_rows", "workers", "channels", "batch_concurrency", "pool")
    names += ("dns_clients", "dns_outstanding", "pdns_receivers", "pdns_distributors")
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.levels or args.levels[0] < 1:
        parser.error("--levels must be positive")
    if args.seconds <= 0 or not 0 <= args.unknown_fraction < 1:
        parser.error("--seconds must be positive and --unknown-fraction in [0, 1)")
    if args.dns_warmup <= 0:
        parser.error("--dns-warmup must be positive")
    return args


# -- the data set ---------------------------------------------------------------------------


def map_size_for(count: int) -> int:
    """Initial LMDB map: about 1.8 KB a row with change log and indexes, twice over; at least 1 GiB."""
    return max(1 << 30, count * 4096)


async def _load(data_dir: Path, count: int, seed: int, map_size: int) -> tuple[str, float]:
    from idnode.registry.service import Registry
    from idnode.registry.store import Store
    from idnode.registry.writer import Writer

    store = Store(data_dir, map_size=map_size)
    writer = Writer(store)
    try:
        registry = Registry(store, writer, NODE_PREFIX)
        writer.start()
        token = await datagen.prepare_registry(registry, DATA_PREFIX)
        enterprise = registry.authenticate(token)
        started = time.perf_counter()
        shown = started
        for start in range(0, count, LOAD_BATCH):
            items = list(datagen.generate(min(LOAD_BATCH, count - start), DATA_PREFIX, seed, start))
            failed = [o for o in await registry.batch_create(enterprise, items) if o.code != 1]
            if failed:
                raise BenchError(f"loading: {len(failed)} items failed, first: {failed[0].code} {failed[0].message}")
            if time.perf_counter() - shown > 15:
                shown = time.perf_counter()
                done = start + len(items)
                _say(f"loaded {done:,} of {count:,} ({done / (shown - started):,.0f} rows/s)")
        return token, count / (time.perf_counter() - started)
    finally:
        writer.stop()
        store.close()


# -- the load process -------------------------------------------------------------------------


class LoadClient:
    """The load process (spawned: it shares nothing with this one) and its task pipe."""

    def __init__(self, serve: Any = None) -> None:
        from idnode.loadtest import _bench_load

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        target = serve or _bench_load.serve  # --http: the HTTP load process (_bench_http.serve)
        self.proc = ctx.Process(target=target, args=(child,), name="idnode-bench-load", daemon=True)
        self.proc.start()
        child.close()

    def send(self, task: dict[str, Any]) -> None:
        self._conn.send(task)

    def receive(self, timeout: float) -> dict[str, Any]:
        if not self._conn.poll(timeout):
            self.close()
            raise BenchError(f"the load process gave no answer within {timeout:.0f} s")
        try:
            return self._conn.recv()
        except EOFError:
            raise BenchError(f"the load process died (exit code {self.proc.exitcode})") from None

    def run(self, task: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(task)
        return self.receive(timeout)

    def close(self) -> None:
        if self.proc.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        self._conn.close()


# -- the run ------------------------------------------------------------------------------------


def _node_env() -> dict[str, str]:
    """The environment for the node: the caller's, without IDNODE_* settings that would change what
    is measured (a config file, demo data...), but keeping IDNODE_NO_EXTENSIONS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDNODE_") or k == "IDNODE_NO_EXTENSIONS"}
    env["PYTHONUNBUFFERED"] = "1"
    # One load client is one client: per-client rate limits would measure the limit, not the node.
    env["IDNODE_RATE_LIMIT_RESOLVE"] = env["IDNODE_RATE_LIMIT_WRITE"] = "off"
    return env


def node_server(data_dir: Path, workers: int, map_size: int, extra: list[str] | tuple[str, ...] = ()) -> Server:
    """``idnode serve`` on ``data_dir``: gRPC and HTTP on ports it picks; DNS on the port ``extra``
    gives (``--dns-listen``), else on a free one (never the defaults 8053 and 8000, which may be taken)."""
    if "--dns-listen" not in extra:
        extra = ["--dns-listen", f"127.0.0.1:{_bench_dns.free_port()}", *extra]
    if "--http-listen" not in extra:
        extra = ["--http-listen", "127.0.0.1:0", *extra]
    args = [
        sys.executable,
        "-m",
        "idnode",
        "serve",
        "--data-dir",
        str(data_dir),
        "--grpc-listen",
        "127.0.0.1:0",
        "--workers",
        str(workers),
        "--map-size",
        str(map_size),
        "--log-level",
        "warning",
        *extra,
    ]
    server = Server(f"idnode serve --workers {workers}", args)
    server.env = _node_env()
    return server


class Bench:
    """One benchmark run: its configuration, servers, load process and run records."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.data_dir = work / "data"
        self.runs: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.status: dict[str, str] = {}
        self.load: LoadClient | None = None
        self.node: Server | None = None
        self.echo: Server | None = None
        self.echo_info: dict[str, str] = {}
        self.workers = args.workers
        self.token = ""
        self.load_rows_per_s: float | None = None
        self.open_rate: float | None = None
        self.efficiency_runs: dict[int, list[dict[str, Any]]] = {}
        self.readiness: dict[str, Any] | str | None = None  # readiness checks timed beside an LMDB get
        self.node_off: Server | None = None  # --metrics-cost: the node with --no-metrics on a copy of the data
        self.data_off: Path | None = None

    # -- one measurement ---------------------------------------------------------------

    def measure(
        self, series: str, task: dict[str, Any], server: Server | None, load: LoadClient | None = None, **meta: Any
    ) -> dict[str, Any]:
        """Run one task in the load process (or in ``load``); record it with the server's CPU and its flags."""
        load = load or self.load
        assert load is not None
        planned = float(task.get("seconds", 0.0))
        ours0, machine0, wall0 = tree_cpu_seconds(os.getpid()), system_busy_seconds(), time.monotonic()
        cpu0 = server.cpu_by_pid() if server is not None else {}
        result = load.run(task, planned + TASK_SLACK)
        cpu1 = server.cpu_by_pid() if server is not None else {}
        # Every process of the benchmark descends from this one; the rest of the machine's busy
        # time went to someone else (another job on a shared machine, steal by the hypervisor).
        ours, machine = tree_cpu_seconds(os.getpid()) - ours0, system_busy_seconds() - machine0
        wall = time.monotonic() - wall0
        run: dict[str, Any] = {"series": series, "planned": planned, **meta}
        if result.pop("ok"):
            run.update(result, ok=True)
        else:
            run.update(ok=False, rate=0.0, calls=0, items=0, errors=1, elapsed=0.0, client_cpu=0.0)
            run["error_samples"] = [result["error"]]
        run["other_cpu"] = max(0.0, machine - ours) / wall if wall > 0 else 0.0
        run["server_cpu"] = None
        if server is not None and run["elapsed"] > 0:
            per_process = {pid: cpu1[pid] - cpu0.get(pid, 0.0) for pid in cpu1}
            used = sum(per_process.values())
            run["server_cpu"] = used / run["elapsed"]
            # Cores per process, busiest first: shows whether SO_REUSEPORT spread the connections.
            run["server_cpu_split"] = sorted((round(x / run["elapsed"], 2) for x in per_process.values()), reverse=True)
            run["items_per_server_cpu_s"] = run["items"] / used if used > 0 else None
        run["flags"] = report.flag_run(run)
        self.runs.append(run)
        server_cpu = "-" if run["server_cpu"] is None else f"{run['server_cpu']:.2f}"
        _say(
            f"{series:<26} {run['rate']:>12,.0f}/s  server {server_cpu} client {run['client_cpu']:.2f} cores"
            + (f"  p99 {run['p99_ms']:.2f} ms" if "p99_ms" in run else "")
            + (f"  others {run['other_cpu']:.2f}" if run["other_cpu"] > 0.1 else "")
            + (f"  FLAGGED {','.join(run['flags'])}" if run["flags"] else "")
            + (f"  ({run['error_samples'][0]})" if run.get("error_samples") else "")
        )
        if server is not None and not server.alive():
            raise BenchError(f"{server.name} died: " + " | ".join(server.lines[-8:]))
        return run

    def closed(
        self, kind: str, name: str, server: Server, concurrency: int, *, series: str = "", **meta: Any
    ) -> dict[str, Any]:
        """A closed-loop run: ``concurrency`` calls (stream messages) outstanding for ``--seconds``."""
        task = {
            "op": "closed",
            "kind": kind,
            "port": server.port,
            "concurrency": concurrency,
            "channels": self.args.channels,
            "seconds": self.args.seconds,
            "echo": self.echo_info if name == "echo" else None,
        }
        if not series:
            series = f"{kind}@{concurrency}/{name}" if kind == "resolve" else f"{kind}/{name}"
        return self.measure(series, task, server, target=name, concurrency=concurrency, **meta)

    # -- phases -----------------------------------------------------------------------

    def start_node(self, workers: int, extra: list[str] | tuple[str, ...] = (), data_dir: Path | None = None) -> Server:
        return node_server(data_dir or self.data_dir, workers, map_size_for(self.args.count), extra).start()

    def load_data(self) -> None:
        args = self.args
        _say(f"generating and loading {args.count:,} identifiers under {DATA_PREFIX} into {self.data_dir}")
        self.token, self.load_rows_per_s = asyncio.run(
            _load(self.data_dir, args.count, args.seed, map_size_for(args.count))
        )
        _say(f"loaded {args.count:,} identifiers ({self.load_rows_per_s:,.0f} rows/s through Registry.batch_create)")

    def setup(self, echo: bool = True) -> None:
        """Start the load process and the node; then (``echo``) capture its replies and start the echo server."""
        args = self.args
        self.load = LoadClient()
        self.load.send(
            {
                "op": "prepare",
                "args": {
                    "count": args.count,
                    "prefix": DATA_PREFIX,
                    "seed": args.seed,
                    "pool": args.pool,
                    "batch": 100,
                    "unknown_fraction": args.unknown_fraction,
                },
            }
        )
        if args.metrics_cost:
            self.data_off = _bench_metrics.copy_data(self.data_dir)
        try:
            self.node = self.start_node(self.workers, _bench_metrics.node_flags(args))
        except RuntimeError as exc:
            if self.workers == 1:
                raise BenchError(str(exc)) from None
            reason = f"--workers {self.workers} not available ({exc})"
            self.notes.append(reason + "; measured with --workers 1")
            self.status["workers2_vs_workers1"] = "not available: " + str(exc)
            _say(reason + "; using --workers 1")
            self.workers = 1
            self.node = self.start_node(1, _bench_metrics.node_flags(args))
        _say(f"node serving on port {self.node.port} ({self.workers} worker(s), pid {self.node.pid})")
        if args.metrics_cost:
            self.node_off = self.start_node(self.workers, _bench_metrics.baseline_flags(args), self.data_off)
            shown = " ".join(_bench_metrics.baseline_flags(args)) or "rate limits off"
            _say(f"baseline node ({shown}, a copy of the data) on port {self.node_off.port}")
        prepared = self.load.receive(TASK_SLACK + args.pool / 1000)
        if not prepared.get("ok"):
            raise BenchError(f"load process: {prepared.get('error')}")
        if not echo:
            return
        captured = self.load.run({"op": "capture", "port": self.node.port}, TASK_SLACK)
        if not captured.pop("ok"):
            raise BenchError(f"capturing the node's replies: {captured['error']}")
        replies = self.work / "echo-replies.json"
        replies.write_text(json.dumps({"resolve": captured["resolve"].hex(), "batch": captured["batch"].hex()}))
        self.echo_info = {"handle": captured["handle"], "first": captured["first"], "last": captured["last"]}
        echo_args = [sys.executable, "-m", "idnode.loadtest._bench_echo"]
        echo_args += ["--workers", str(self.workers), "--replies", str(replies)]
        self.echo = Server(f"echo server ({self.workers} worker(s))", echo_args).start()
        _say(
            f"echo server on port {self.echo.port}; replies of {len(captured['resolve'])} and "
            f"{len(captured['batch'])} bytes"
        )

    def rounds(self) -> None:
        args = self.args
        assert self.node is not None and self.echo is not None
        import_base = args.count + UNKNOWN_POOL
        servers = [("idnode", self.node), ("echo", self.echo)]
        if self.node_off is not None:
            servers.append((_bench_metrics.BASELINE, self.node_off))
        # Warm the servers up (connections, caches, first-call paths) outside every series.
        for name, server in servers:
            for kind in ("resolve", "batch"):
                level = max(args.levels) if kind == "resolve" else args.batch_concurrency
                self.closed(kind, name, server, level, series=f"warmup-{kind}/{name}", round=-1)
        for r in range(args.rounds):
            _say(f"round {r + 1} of {args.rounds}")
            order = servers[r % len(servers) :] + servers[: r % len(servers)]  # who goes first rotates
            for level in args.levels:
                for name, server in order:
                    self.closed("resolve", name, server, level, round=r)
            for kind in ("batch", "stream"):
                for name, server in order:
                    self.closed(kind, name, server, args.batch_concurrency, round=r)
            self.closed("mix", "idnode", self.node, max(args.levels), round=r)
            for series, per_txn in (("lmdb_get", 1), ("lmdb_get_many", 100)):
                task = {"op": "lmdb_get", "data_dir": str(self.data_dir), "per_txn": per_txn, "seconds": args.seconds}
                self.measure(f"{series}/lmdb", task, None, target="lmdb", round=r)
            start = import_base + r * args.import_rows
            rows = {"prefix": DATA_PREFIX, "seed": args.seed, "start": start, "rows": args.import_rows}
            task = {"op": "import", "port": self.node.port, "token": self.token, "batch_size": 1000, "in_flight": 4}
            self.measure("import/idnode", {**task, **rows}, self.node, target="idnode", round=r)
            for series, per_txn in (("lmdb_put", 0), ("lmdb_put_1000", 1000)):
                task = {
                    "op": "lmdb_put",
                    "data_dir": str(self.data_dir),
                    "work_dir": str(self.work),
                    "per_txn": per_txn,
                }
                self.measure(f"{series}/lmdb", {**task, **rows}, None, target="lmdb", round=r)

    def open_loop(self, peak: float | None) -> None:
        assert self.node is not None and self.echo is not None
        if not peak:
            self.status["resolve_p99_ms"] = "no peak throughput measured"
            return
        self.open_rate = rate = 0.5 * peak
        _say(f"open loop: Resolve at {rate:,.0f}/s (half of the peak {peak:,.0f}/s)")
        for r in range(self.args.rounds):
            order = [("idnode", self.node), ("echo", self.echo)]
            if r % 2:
                order.reverse()
            for name, server in order:
                task = {
                    "op": "open",
                    "port": server.port,
                    "rate": rate,
                    "seconds": self.args.seconds,
                    "channels": self.args.channels,
                    "echo": self.echo_info if name == "echo" else None,
                }
                self.measure(f"open/{name}", task, server, target=name, round=r)

    def efficiency(self) -> None:
        """Calls per server CPU-second at the top concurrency level, with 1 and with 2 workers."""
        top = max(self.args.levels)
        main_runs = [r for r in self.runs if r["series"] == f"resolve@{top}/idnode"]
        self.efficiency_runs[self.workers] = main_runs
        other = 2 if self.workers == 1 else 1
        if "workers2_vs_workers1" in self.status:  # --workers 2 already failed to start
            return
        if self.args.no_efficiency:
            self.status["workers2_vs_workers1"] = "skipped (--no-efficiency)"
            return
        assert self.node is not None
        self.node.stop()
        self.node = None
        try:
            self.node = self.start_node(other)
        except RuntimeError as exc:
            self.status["workers2_vs_workers1"] = f"not available: {exc}"
            _say(f"--workers {other} not available: {exc}")
            return
        _say(f"efficiency: node restarted with --workers {other}")
        runs = []
        for r in range(self.args.rounds):
            task = {
                "op": "closed",
                "kind": "resolve",
                "port": self.node.port,
                "concurrency": top,
                "channels": self.args.channels,
                "seconds": self.args.seconds,
            }
            runs.append(
                self.measure(f"resolve@{top}/idnode-w{other}", task, self.node, target="idnode", round=r, workers=other)
            )
        self.efficiency_runs[other] = runs

    def close(self) -> None:
        if self.load is not None:
            self.load.close()
            self.load = None
        for server in (self.echo, self.node, self.node_off):
            if server is not None:
                server.stop()
        self.echo = self.node = self.node_off = None


# -- figures -------------------------------------------------------------------------------------


def fastpath_compare(n: int) -> list[dict[str, Any]] | str:
    """Per-function python vs compiled micro-timings from ``_fastpath.bench``, or why there are none."""
    try:
        from idnode._fastpath import bench as fastpath_bench  # type: ignore[attr-defined]
    except ImportError:
        return "not built"
    try:
        return list(fastpath_bench.compare(n))
    except Exception as exc:  # its failure must not lose the rest of the figures
        return f"failed: {type(exc).__name__}: {exc}"


def figures(bench: Bench, elapsed: float, fastpath: list[dict[str, Any]] | str) -> dict[str, Any]:
    """Everything the run measured, as one JSON-ready object."""
    args = bench.args
    report.flag_outliers(bench.runs)
    by_series: dict[str, list[dict[str, Any]]] = {}
    for run in bench.runs:
        by_series.setdefault(run["series"], []).append(run)
    series = {name: report.series_summary(runs) for name, runs in by_series.items()}
    untrusted: set[str] = set()

    def rate(name: str, *keys: str) -> float | None:
        s = series.get(name)
        if s is None:
            return None
        if not s["trusted"]:
            untrusted.update(keys)
        return s["rate"]

    def field(name: str, key: str) -> float | None:
        s = series.get(name)
        return None if s is None else s.get(key)

    out: dict[str, Any] = {}
    levels = []
    for level in args.levels:
        node, echo = series.get(f"resolve@{level}/idnode"), series.get(f"resolve@{level}/echo")
        levels.append(
            {
                "concurrency": level,
                "resolve_rps": node and node["rate"],
                "echo_rps": echo and echo["rate"],
                "resolve_vs_echo": report.ratio(node and node["rate"], echo and echo["rate"]),
                "resolve_p50_ms": node and node["p50_ms"],
                "resolve_p99_ms": node and node["p99_ms"],
                "echo_p50_ms": echo and echo["p50_ms"],
                "echo_p99_ms": echo and echo["p99_ms"],
                "server_cpu": node and node["server_cpu"],
                "echo_server_cpu": echo and echo["server_cpu"],
                "client_cpu": node and node["client_cpu"],
            }
        )
    node_peak = max(levels, key=lambda x: x["resolve_rps"] or 0.0)
    echo_peak = max(levels, key=lambda x: x["echo_rps"] or 0.0)
    out["resolve_rps"] = rate(f"resolve@{node_peak['concurrency']}/idnode", "resolve_vs_echo")
    out["resolve_peak_concurrency"] = node_peak["concurrency"]
    out["echo_rps"] = rate(f"resolve@{echo_peak['concurrency']}/echo", "resolve_vs_echo")
    out["echo_peak_concurrency"] = echo_peak["concurrency"]
    out["resolve_vs_echo"] = report.ratio(out["resolve_rps"], out["echo_rps"])
    out["resolve_levels"] = levels
    out["batch_ids_per_s"] = rate("batch/idnode", "batch_vs_echo", "batch_vs_lmdb")
    out["echo_batch_ids_per_s"] = rate("batch/echo", "batch_vs_echo")
    out["batch_vs_echo"] = report.ratio(out["batch_ids_per_s"], out["echo_batch_ids_per_s"])
    out["stream_ids_per_s"] = rate("stream/idnode", "stream_vs_echo")
    out["echo_stream_ids_per_s"] = rate("stream/echo", "stream_vs_echo")
    out["stream_vs_echo"] = report.ratio(out["stream_ids_per_s"], out["echo_stream_ids_per_s"])
    out["mix_rps"] = rate("mix/idnode", "mix_rps")
    out["mix_unknown_fraction"] = args.unknown_fraction
    out["lmdb_get_per_s"] = rate("lmdb_get/lmdb", "batch_vs_lmdb")
    out["lmdb_get_many_per_s"] = rate("lmdb_get_many/lmdb")
    out["batch_vs_lmdb"] = report.ratio(out["batch_ids_per_s"], out["lmdb_get_per_s"])
    out["import_rows_per_s"] = rate("import/idnode", "import_rows_per_s", "import_vs_lmdb")
    out["lmdb_put_per_s"] = rate("lmdb_put/lmdb", "import_vs_lmdb")
    out["lmdb_put_1000_per_s"] = rate("lmdb_put_1000/lmdb")
    out["import_vs_lmdb"] = report.ratio(out["import_rows_per_s"], out["lmdb_put_per_s"])
    out["load_rows_per_s"] = bench.load_rows_per_s
    out["open_loop_rate"] = bench.open_rate
    out["resolve_p50_ms"] = field("open/idnode", "p50_ms")
    out["resolve_p99_ms"] = field("open/idnode", "p99_ms")
    if series.get("open/idnode") and not series["open/idnode"]["trusted"]:
        untrusted.add("resolve_p99_ms")
    out["echo_p50_ms"] = field("open/echo", "p50_ms")
    out["echo_p99_ms"] = field("open/echo", "p99_ms")
    for workers in (1, 2):
        runs = bench.efficiency_runs.get(workers)
        value = report.median_field(runs, "items_per_server_cpu_s")[0] if runs else None
        out[f"calls_per_cpu_s_workers{workers}"] = value
    out["workers2_vs_workers1"] = report.ratio(out["calls_per_cpu_s_workers2"], out["calls_per_cpu_s_workers1"])
    status = dict(bench.status)
    out["workers2_vs_workers1_status"] = status.get("workers2_vs_workers1", "measured")
    out["workers"] = bench.workers
    out["workers_requested"] = args.workers
    out["targets"] = report.check_targets(out, untrusted, status)
    out["fastpath"] = fastpath
    out["readiness"] = bench.readiness
    out["series"] = series
    keep = ("series", "round", "flags", "rate", "errors", "error_samples", "server_cpu", "client_cpu", "other_cpu")
    out["flagged_runs"] = [
        {k: r.get(k) for k in keep} for r in bench.runs if not report.good(r) and not r["series"].startswith("warmup")
    ]
    out["client_bound"] = sorted(
        name for name, x in series.items() if x["client_bound_runs"] and not name.startswith("warmup")
    )
    out["notes"] = bench.notes
    out["config"] = {
        "quick": args.quick,
        "count": args.count,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "levels": args.levels,
        "batch": 100,
        "batch_concurrency": args.batch_concurrency,
        "channels": args.channels,
        "pool": min(args.pool, args.count),
        "import_rows": args.import_rows,
        "seed": args.seed,
    }
    out["machine"] = _machine()
    out["elapsed_s"] = elapsed
    out["runs"] = bench.runs
    return out


def _machine() -> dict[str, Any]:
    import grpc
    import lmdb

    from idnode import _fastpath

    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "lmdb": lmdb.__version__,
        "fastpath": _fastpath.IMPLEMENTATION,
        "platform": platform.platform(),
    }


# -- output -----------------------------------------------------------------------------------------


def render(fig: dict[str, Any], markdown: bool = False) -> str:
    """The human-readable result: figures with baselines and ratios, targets, fast path, flags;
    as plain text tables, or as Markdown for a README."""
    f, s, fmt = fig, fig["series"], report.fmt
    tab = report.markdown_table if markdown else report.table
    item = "- " if markdown else "  "
    cfg = fig["config"]
    lines = [
        f"idnode bench{' --quick' if cfg['quick'] else ''}: {cfg['count']:,} identifiers, {cfg['rounds']} rounds x "
        f"{cfg['seconds']:g} s, node and echo with {fig['workers']} worker(s), {cfg['channels']} channels, "
        f"{fig['machine']['cores']} cores shared by servers and client, fast path {fig['machine']['fastpath']}",
        "",
    ]

    def cpu(name: str) -> str:
        x = s.get(name)
        return "-" if x is None else f"{fmt(x['server_cpu'], 'cores')}/{fmt(x['client_cpu'], 'cores')}"

    def runs(*names: str) -> str:
        got = [s[n] for n in names if n in s]
        return ", ".join(f"{x['good_runs']}/{x['runs']}" for x in got) or "-"

    headers = ["measurement", "idnode", "baseline", "ratio", "CPU idnode srv/cli", "CPU base srv/cli", "good runs"]
    rows = []
    for lv in f["resolve_levels"]:
        c = lv["concurrency"]
        rows.append(
            [
                f"Resolve calls/s, {c} in flight (p50/p99 ms {fmt(lv['resolve_p50_ms'], 'ms')}/"
                f"{fmt(lv['resolve_p99_ms'], 'ms')} vs {fmt(lv['echo_p50_ms'], 'ms')}/{fmt(lv['echo_p99_ms'], 'ms')})",
                fmt(lv["resolve_rps"]),
                fmt(lv["echo_rps"]) + " echo",
                fmt(lv["resolve_vs_echo"], "x"),
                cpu(f"resolve@{c}/idnode"),
                cpu(f"resolve@{c}/echo"),
                runs(f"resolve@{c}/idnode", f"resolve@{c}/echo"),
            ]
        )
    rows += [
        [
            "BatchResolve ids/s (100 a call)",
            fmt(f["batch_ids_per_s"]),
            fmt(f["echo_batch_ids_per_s"]) + " echo",
            fmt(f["batch_vs_echo"], "x"),
            cpu("batch/idnode"),
            cpu("batch/echo"),
            runs("batch/idnode", "batch/echo"),
        ],
        [
            "BatchResolve ids/s vs raw LMDB gets/s",
            fmt(f["batch_ids_per_s"]),
            fmt(f["lmdb_get_per_s"]) + " lmdb",
            fmt(f["batch_vs_lmdb"], "x"),
            cpu("batch/idnode"),
            cpu("lmdb_get/lmdb"),
            runs("lmdb_get/lmdb"),
        ],
        [
            "ResolveStream ids/s (100 a message)",
            fmt(f["stream_ids_per_s"]),
            fmt(f["echo_stream_ids_per_s"]) + " echo",
            fmt(f["stream_vs_echo"], "x"),
            cpu("stream/idnode"),
            cpu("stream/echo"),
            runs("stream/idnode", "stream/echo"),
        ],
        [
            f"Resolve mix, {f['mix_unknown_fraction']:.0%} unknown, calls/s",
            fmt(f["mix_rps"]),
            "",
            "",
            cpu("mix/idnode"),
            "",
            runs("mix/idnode"),
        ],
        [
            "import rows/s (BatchCreate 1000, 4 in flight)",
            fmt(f["import_rows_per_s"]),
            fmt(f["lmdb_put_per_s"]) + " lmdb",
            fmt(f["import_vs_lmdb"], "x"),
            cpu("import/idnode"),
            cpu("lmdb_put/lmdb"),
            runs("import/idnode", "lmdb_put/lmdb"),
        ],
        [
            f"Resolve open loop at {fmt(f['open_loop_rate'])}/s: p50 / p99 ms",
            f"{fmt(f['resolve_p50_ms'], 'ms')} / {fmt(f['resolve_p99_ms'], 'ms')}",
            f"{fmt(f['echo_p50_ms'], 'ms')} / {fmt(f['echo_p99_ms'], 'ms')} echo",
            fmt(report.ratio(f["resolve_p99_ms"], f["echo_p99_ms"]), "x"),
            cpu("open/idnode"),
            cpu("open/echo"),
            runs("open/idnode", "open/echo"),
        ],
        [
            "Resolve calls per server CPU-s, 2 vs 1 worker",
            fmt(f["calls_per_cpu_s_workers2"]),
            fmt(f["calls_per_cpu_s_workers1"]) + " w1",
            fmt(f["workers2_vs_workers1"], "x"),
            "",
            "",
            f["workers2_vs_workers1_status"][:40],
        ],
    ]
    lines.append(tab(headers, rows))
    lines += [
        "",
        f"raw LMDB: {fmt(f['lmdb_get_per_s'])} gets/s one read txn per get, {fmt(f['lmdb_get_many_per_s'])} gets/s "
        f"100 per txn; putmulti {fmt(f['lmdb_put_per_s'])} rows/s in one txn, {fmt(f['lmdb_put_1000_per_s'])} rows/s "
        f"1000 per txn. Initial load through Registry.batch_create: {fmt(f['load_rows_per_s'])} rows/s.",
        "",
    ]
    trows = [
        [
            t["target"],
            fmt(t["value"], "ms" if t["key"].endswith("_ms") else ""),
            fmt(t["bound"]),
            t["result"],
            t["note"],
        ]
        for t in f["targets"]
        if not t["key"].startswith("dns_")  # the DNS comparison's own table shows them
    ]
    lines.append(tab(["target", "value", "bound", "result", "note"], trows))
    lines.append("")
    if isinstance(f["fastpath"], str):
        lines.append(f"fast path compiled vs twin: {f['fastpath']}")
    else:
        prow = [
            [r.get("name", "?"), fmt(r.get("python_us")), fmt(r.get("cython_us")), fmt(r.get("speedup"), "x")]
            for r in f["fastpath"]
        ]
        lines.append(tab(["fast-path function", "python µs", "cython µs", "speed-up"], prow))
    ready = f.get("readiness")
    if isinstance(ready, dict):
        writer = ready["writer_check_us"]
        lines += [
            "",
            f"readiness checks per call: store {fmt(ready['store_check_us'])} µs, writer "
            f"{'-' if writer is None else fmt(writer)} µs ({ready['writer_sockets']} sockets), all "
            f"{fmt(ready['readiness_us'])} µs vs one LMDB read txn + get {fmt(ready['lmdb_get_us'])} µs "
            f"({fmt(ready['readiness_vs_lmdb_get'], 'x')})",
        ]
    elif ready:
        lines.append(f"readiness checks: {ready}")
    if f["flagged_runs"]:
        lines += ["", f"flagged runs ({len(f['flagged_runs'])}, left out of the medians):", *([""] if markdown else [])]
        for r in f["flagged_runs"]:
            detail = "; ".join(r.get("error_samples") or [])
            others = r.get("other_cpu") or 0.0
            lines.append(
                f"{item}{r['series']} round {r.get('round')}: {','.join(r['flags'])} rate {fmt(r['rate'])}"
                + (f", {others:.2f} cores busy outside the bench" if "contended" in r["flags"] else "")
                + (f" ({detail})" if detail else "")
            )
    if f["client_bound"]:
        lines.append("")
        lines.append(
            "client-bound (load process >= 0.9 core while the server was busy; the figure is a lower bound): "
            + ", ".join(f["client_bound"])
        )
    for note in f["notes"]:
        lines += ["", f"note: {note}"]
    lines += ["", f"elapsed {f['elapsed_s']:.0f} s"]
    return "\n".join(lines)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    return obj


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it completed (targets may still MISS), 1 when it could not."""
    args = parse_args(argv)
    started = time.monotonic()
    if args.work_dir:
        work = Path(args.work_dir)
        work.mkdir(parents=True, exist_ok=True)
        if (work / "data").exists():
            print(f"error: {work / 'data'} exists; give an empty --work-dir", file=sys.stderr)
            return 2
    else:
        work = Path(tempfile.mkdtemp(prefix="idnode-bench-"))
    if args.sync_only:
        return _part_only(args, work, started, "sync", _run_sync)
    if args.replica_only:
        return _part_only(args, work, started, "replica", _run_replica)
    if args.reg_counter_only:
        return _counters_only(args, work, started)
    bench = Bench(args, work)
    http = _bench_http.HttpBench(bench, LoadClient) if args.http else None
    dns = _bench_dns.DnsBench(args, work, DATA_PREFIX, bench.start_node, bench.data_dir) if args.dns else None
    if dns is not None:
        try:
            dns.check_tools()  # before the long load: installs what is missing, or says what to run
        except _bench_dns.DnsBenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            if not args.work_dir:
                shutil.rmtree(work, ignore_errors=True)
            return 1
    failure = ""
    try:
        if dns is not None:
            dns.start_prepare(unknown_base=args.count)  # the zone and PowerDNS's LMDB, beside the load
        bench.load_data()
        if http is not None and args.http_only:
            bench.setup(echo=False)
            http.start(DATA_PREFIX)
            http.rounds()
        elif not args.dns_only:
            bench.setup()
            try:  # while the node serves (its writer sockets exist); a failure must not lose the rest
                bench.readiness = _bench_health.compare(bench.data_dir, args.fastpath_n)
            except Exception as exc:
                bench.readiness = f"failed: {type(exc).__name__}: {exc}"
            bench.rounds()
            peaks = [r["rate"] for r in bench.runs if r["series"].startswith("resolve@") and r["target"] == "idnode"]
            level_medians = [
                report.median_field([r for r in bench.runs if r["series"] == f"resolve@{lv}/idnode"])[0]
                for lv in args.levels
            ]
            bench.open_loop(max((m for m in level_medians if m), default=None) if peaks else None)
            if bench.echo is not None:
                bench.echo.stop()
                bench.echo = None
            if http is not None:  # on the node as it is, before efficiency() restarts it
                http.start(DATA_PREFIX)
                http.rounds()
                http.close()
            bench.efficiency()
            bench.close()
        if dns is not None:
            if not args.dns_only:
                dns.notes.append(
                    "DNS measured after the gRPC part: idnode's data also holds the rows its import runs added"
                )
            dns.wait_prepared()
            dns.start_servers()
            dns.check_content()
            dns.rounds()
            if args.dns_profile:
                dns.profile_idnode(Path(args.dns_profile))
    except (BenchError, RuntimeError, OSError, TimeoutError, subprocess.SubprocessError) as exc:
        # a server that would not start, a dead load process, a failed zone load
        failure = str(exc) or type(exc).__name__
        _say(f"stopped: {failure}")
    finally:
        if http is not None:
            http.close()
        bench.close()
        if dns is not None:
            dns.close()
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    if args.sync:
        fig_sync = _run_sync(args, work)
    if args.replica:
        fig_replica = _run_replica(args, work)
    elapsed = time.monotonic() - started
    if args.dns_only:
        fig = dns_only_figures(bench, elapsed)
    elif args.http_only:
        report.flag_outliers(bench.runs)
        fig = {**dns_only_figures(bench, elapsed), "dns_only": False, "http_only": True, "workers": bench.workers}
        fig["runs"] = bench.runs
    else:
        fig = figures(bench, elapsed, fastpath_compare(args.fastpath_n))
    if http is not None:
        connections = f"HTTP/1.1, one connection per request in flight; gRPC {args.channels} channels"
        fig["http"] = _bench_http.figures(bench.runs, http.kinds, http.levels, connections)
    if dns is not None:
        fig["dns"] = _bench_dns.figures(dns)
        fig["targets"] = [*fig["targets"], *fig["dns"]["targets"]]
    if args.sync:
        fig["sync"] = fig_sync
    if args.replica:
        fig["replica"] = fig_replica
    if args.metrics_cost:
        fig["metrics_cost"] = _bench_metrics.figures(
            bench.runs + (dns.runs if dns is not None else []), _bench_metrics.what(args)
        )
    if failure:
        fig["notes"].append(f"the run stopped early: {failure}")
        fig["failed"] = failure
    print(render_all(fig), flush=True)
    if args.markdown:
        Path(args.markdown).write_text(render_all(fig, markdown=True) + "\n")
        _say(f"tables written to {args.markdown}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(_jsonable(fig), indent=2, ensure_ascii=False) + "\n")
        _say(f"figures written to {args.json_path}")
    return 1 if failure else 0


def _run_sync(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The sync part (``--sync``) in ``work`` (removed after when the bench made it)."""
    sync_work = work if args.work_dir else Path(tempfile.mkdtemp(prefix="idnode-bench-sync-"))
    try:
        return _bench_sync.SyncBench(args, sync_work, node_server, _node_env()).run()
    finally:
        if not args.work_dir:
            shutil.rmtree(sync_work, ignore_errors=True)


def _part_only(args: argparse.Namespace, work: Path, started: float, part: str, run: Any) -> int:
    """``--<part>-only`` (sync, replica): ``run(args, work)`` alone, its table printed and written like the others."""
    fig: dict[str, Any] = {f"{part}_only": True, part: run(args, work), "machine": _machine()}
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    fig["elapsed_s"] = time.monotonic() - started
    _emit(args, fig)
    return 1 if fig[part].get("failed") else 0


def _run_replica(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The replica part (``--replica``) in ``work`` (removed after when the bench made it)."""
    replica_work = Path(tempfile.mkdtemp(prefix="idnode-bench-replica-", dir=work if args.work_dir else None))

    def load(data_dir: Path, count: int) -> str:
        return asyncio.run(_load(data_dir, count, args.seed, map_size_for(count)))[0]

    try:
        return _bench_replica.ReplicaBench(args, replica_work, node_server, _node_env(), load, DATA_PREFIX).run()
    finally:
        if not args.work_dir:
            shutil.rmtree(replica_work, ignore_errors=True)


def _emit(args: argparse.Namespace, fig: dict[str, Any]) -> None:
    """Print a part's tables; write them (``--markdown``) and its figures (``--json``) when asked."""
    print(render_all(fig), flush=True)
    if args.markdown:
        Path(args.markdown).write_text(render_all(fig, markdown=True) + "\n")
        _say(f"tables written to {args.markdown}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(_jsonable(fig), indent=2, ensure_ascii=False) + "\n")
        _say(f"figures written to {args.json_path}")


def _counters_only(args: argparse.Namespace, work: Path, started: float) -> int:
    """``--reg-counter-only``: the registration counters on vs off (``_bench_counters``), printed and written."""
    try:
        part = _bench_counters.run(work, args.import_rows, args.rounds, args.seed, DATA_PREFIX, NODE_PREFIX)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    fig: dict[str, Any] = {"counters_only": True, "counters": part, "machine": _machine()}
    fig["elapsed_s"] = time.monotonic() - started
    _emit(args, fig)
    return 0 if part["counted_ok"] else 1


def dns_only_figures(bench: Bench, elapsed: float) -> dict[str, Any]:
    """The figures of a ``--dns-only`` run besides ``dns``: the load, the machine, the time."""
    args = bench.args
    return {
        "dns_only": True,
        "load_rows_per_s": bench.load_rows_per_s,
        "workers_requested": args.workers,
        "targets": [],
        "notes": bench.notes,
        "config": {"count": args.count, "rounds": args.rounds, "seconds": args.seconds, "seed": args.seed},
        "machine": _machine(),
        "elapsed_s": elapsed,
    }


def _alone(head: str, body: str, fig: dict[str, Any]) -> str:
    """A part run alone (``--<part>-only``): its head line, its tables, the elapsed time."""
    return "\n".join([head, "", body, "", f"elapsed {fig['elapsed_s']:.0f} s"])


def render_all(fig: dict[str, Any], markdown: bool = False) -> str:
    """The gRPC part's tables (unless ``--dns-only`` or ``--http-only``), then the HTTP and DNS comparisons'."""
    if fig.get("replica_only"):
        cores = fig["machine"]["cores"]
        head = f"idnode bench --replica-only: {cores} cores shared by the primary, the replicas and the bench"
        return _alone(head, _bench_replica.render(fig["replica"], markdown), fig)
    if fig.get("counters_only"):
        m = fig["machine"]
        head = f"idnode bench --reg-counter-only: {m['cores']} cores, fast path {m['fastpath']}"
        return _alone(head, _bench_counters.render(fig["counters"], markdown), fig)
    if fig.get("sync_only"):
        head = (
            f"idnode bench --sync-only: {fig['machine']['cores']} cores shared by the top node, the nodes and the bench"
        )
        return _alone(head, _bench_sync.render(fig["sync"], markdown), fig)
    text = _render_others(fig, markdown)
    if "metrics_cost" in fig:
        text += "\n\n" + _bench_metrics.render(fig["metrics_cost"], markdown)
    if "sync" in fig:
        text += "\n\n" + _bench_sync.render(fig["sync"], markdown)
    if "replica" in fig:
        text += "\n\n" + _bench_replica.render(fig["replica"], markdown)
    return text


def _render_others(fig: dict[str, Any], markdown: bool = False) -> str:
    if fig.get("http_only"):
        lines = [
            f"idnode bench --http-only: {fig['config']['count']:,} identifiers loaded at "
            f"{report.fmt(fig['load_rows_per_s'])} rows/s; node with {fig['workers']} worker(s); "
            f"{fig['machine']['cores']} cores shared by the node and the load processes, "
            f"fast path {fig['machine']['fastpath']}",
            "",
        ]
        if "http" in fig:
            lines.append(_bench_http.render(fig["http"], markdown))
        lines += [f"\nnote: {note}" for note in fig["notes"]]
        lines += ["", f"elapsed {fig['elapsed_s']:.0f} s"]
        return "\n".join(lines)
    if not fig.get("dns_only"):
        text = render(fig, markdown)
        if "http" in fig:
            text += "\n\n" + _bench_http.render(fig["http"], markdown)
        if "dns" in fig:
            text += "\n\n" + _bench_dns.render(fig["dns"], markdown)
        return text
    lines = [
        f"idnode bench --dns-only: {fig['config']['count']:,} identifiers loaded at "
        f"{report.fmt(fig['load_rows_per_s'])} rows/s through Registry.batch_create; "
        f"{fig['machine']['cores']} cores shared by servers and dnsperf, fast path {fig['machine']['fastpath']}",
        "",
    ]
    if "dns" in fig:
        lines.append(_bench_dns.render(fig["dns"], markdown))
    lines += [f"\nnote: {note}" for note in fig["notes"]]
    lines += ["", f"elapsed {fig['elapsed_s']:.0f} s"]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
