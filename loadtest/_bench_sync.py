"""`idnode bench --sync`: the hierarchy measured with the project's own processes on loopback.

An ``idnode topnode serve`` and a node A (``--node-prefix 88.118 --top``,
``--workers``) whose prefix 88.118.8 is approved on the top node (as
``idnode topnode approve`` does), then:

(a) steady: ``--sync-rate`` registrations/s for the sync seconds, BatchCreate
    of 100 paced on a clock; the node's sync lag (GetStats ``.sync``)
    sampled every 0.25 s; the time from the last write until fully synced;
(b) burst: ``--sync-burst`` identifiers as fast as BatchCreate of 1000 goes
    (4 in flight); write rate and changes/s end to end (first write to synced);
(c) backlog: the top node stopped (SIGTERM), ``--sync-backlog`` identifiers
    written, the top node started again on its port and data; drain changes/s;
(d) recursion: node B (``--node-prefix 88.200 --top``) resolves 200 handles of
    A over gRPC: cold (first time each; the site cached after the very first)
    and cached (second time), against the same handles resolved at A.

Every process started is stopped in ``finally``; every loop is bounded in
count and time. The pure parts (pacing schedule, summaries, table) are
tested without processes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from idnode.client import metadata
from idnode.loadtest import _bench_report as report
from idnode.loadtest._bench_load import percentile
from idnode.loadtest._bench_proc import Server

__all__ = ["SyncBench", "pace_schedule", "render", "summary"]

NODE_A, NODE_B = "88.118", "88.200"
PREFIX = NODE_A + ".8"
STEADY_BATCH = 100
BURST_BATCH = 1000
IN_FLIGHT = 4
SAMPLE_EVERY = 0.25
RESOLVE_N = 200
SYNC_TIMEOUT = 300.0  # seconds a part may wait for the node to be fully synced
CALL_TIMEOUT = 60.0


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


# -- pure parts ------------------------------------------------------------------------


def pace_schedule(rate: float, seconds: float, batch: int) -> list[float]:
    """Send times (s after the start) of the batches of ``batch`` that make ``rate``/s for ``seconds``.

    The k-th batch goes at ``k * batch / rate``; the count is ``round(rate * seconds / batch)``, at least 1.
    """
    if rate <= 0 or seconds <= 0 or batch < 1:
        raise ValueError("rate, seconds and batch must be positive")
    count = max(1, round(rate * seconds / batch))
    step = batch / rate
    return [k * step for k in range(count)]


def summary(values: list[float]) -> dict[str, float]:
    """n, median, p95, p99, max and min of ``values`` (NaN figures when empty)."""
    s = sorted(values)
    nan = float("nan")
    return {
        "n": len(s),
        "median": percentile(s, 0.50),
        "p95": percentile(s, 0.95),
        "p99": percentile(s, 0.99),
        "max": s[-1] if s else nan,
        "min": s[0] if s else nan,
    }


def rate(count: float, seconds: float | None) -> float | None:
    """``count / seconds``, None when the time is missing or not positive."""
    if seconds is None or seconds <= 0:
        return None
    return count / seconds


def rows_of(fig: dict[str, Any]) -> list[list[str]]:
    """The table's rows (part, measure, value) from the figures; missing parts are left out."""
    fmt = report.fmt
    rows: list[list[str]] = []
    s = fig.get("steady")
    if s:
        lag, lag_s = s["lag_sequences"], s["lag_seconds"]
        rows += [
            ["(a) steady", "target / achieved rate", f"{fmt(s['target_rate'])} / {fmt(s['achieved_rate'])} ids/s"],
            ["(a) steady", "identifiers, seconds", f"{s['written']:,} in {s['write_seconds']:.1f} s"],
            [
                "(a) steady",
                "lag sequences median/p95/max",
                f"{fmt(lag['median'])} / {fmt(lag['p95'])} / {fmt(lag['max'])} ({lag['n']} samples)",
            ],
            ["(a) steady", "lag seconds max", f"{fmt(lag_s['max'])} s"],
            ["(a) steady", "last write -> synced", _ms(s["to_synced_s"])],
        ]
    b = fig.get("burst")
    if b:
        rows += [
            ["(b) burst", "identifiers (BatchCreate 1000, 4 in flight)", f"{b['written']:,}"],
            ["(b) burst", "write rate", f"{fmt(b['write_rate'])} ids/s"],
            ["(b) burst", "last write -> synced", _ms(b["to_synced_s"])],
            ["(b) burst", "end to end (first write -> synced)", f"{fmt(b['end_to_end_rate'])} changes/s"],
        ]
    c = fig.get("backlog")
    if c:
        rows += [
            ["(c) backlog", "changes written while the top node was down", f"{c['changes']:,}"],
            ["(c) backlog", "top node restart (start -> serving)", _ms(c["restart_s"])],
            ["(c) backlog", "serving -> synced", _ms(c["drain_s"])],
            ["(c) backlog", "drain rate", f"{fmt(c['drain_rate'])} changes/s"],
        ]
    d = fig.get("resolve")
    if d:
        for key, label in (("first", "very first resolve via B"),):
            rows.append(["(d) recursion", label, _ms(d[key])])
        for key, label in (("cold", "via B, cold"), ("cached", "via B, cached"), ("local", "at A (baseline)")):
            x = d[key]
            rows.append(
                ["(d) recursion", f"{label} median / p99", f"{_ms(x['median'])} / {_ms(x['p99'])} (n={x['n']})"]
            )
        rows.append(["(d) recursion", "errors (cold, cached, local)", ", ".join(str(e) for e in d["errors"])])
    return rows


_ms = report.duration  # the sync table's durations: ms to 0.01


def render(fig: dict[str, Any], markdown: bool = False) -> str:
    """The sync part as a table (plain text or Markdown), with its header line and notes."""
    header = (
        f"hierarchy sync (idnode topnode serve + node A --workers {fig.get('workers')} --top"
        f"{' + node B' if fig.get('resolve') else ''}, loopback)"
    )
    return report.part(header, rows_of(fig), fig.get("notes", []), markdown)


# -- the processes -------------------------------------------------------------------------


def identifier_writes(stem: str, url: str, first: int, count: int) -> list[Any]:
    """Identifiers ``<stem>0000000`` ... numbered from ``first``, each with a URL value ``<url><number>``."""
    from idnode.proto import common_pb2, registry_pb2

    return [
        registry_pb2.IdentifierWrite(
            handle=f"{stem}{i:07d}",
            values=[common_pb2.HandleValue(index=1, type="URL", data=f"{url}{i}".encode())],
        )
        for i in range(first, first + count)
    ]


def batch_create(registry: Any, items: list[Any], token: Any) -> int:
    """BatchCreate ``items`` with the Registry stub ``registry``; the highest sequence it committed.

    Raises:
        RuntimeError: an item failed (its count and the first code).
    """
    from idnode.proto import registry_pb2

    reply = registry.BatchCreate(registry_pb2.BatchCreateRequest(items=items), metadata=token, timeout=CALL_TIMEOUT)
    bad = [r.response_code for r in reply.results if r.response_code != 1]
    if bad:
        raise RuntimeError(f"BatchCreate: {len(bad)} of {len(items)} failed (code {bad[0]})")
    return max(r.sequence for r in reply.results)


def run_parts(name: str, fig: dict[str, Any], parts: Any, close: Any) -> dict[str, Any]:
    """Call ``parts`` in order; a failure stops them and is noted in ``fig`` (``failed``); ``close`` always runs.

    Returns:
        ``fig`` with ``elapsed_s``.
    """
    started = time.monotonic()
    try:
        for part in parts:
            part()
    except Exception as exc:  # reported with the figures gathered so far
        fig["failed"] = f"{type(exc).__name__}: {exc}"
        _say(f"{name} part stopped: {fig['failed']}")
        fig["notes"].append(f"the {name} part stopped early: {fig['failed']}")
    finally:
        close()
    fig["elapsed_s"] = time.monotonic() - started
    return fig


class SyncBench:
    """The sync part: a top node and nodes A and B in ``work``, measured in four parts.

    Args:
        args: the bench's options (``workers``, ``sync_rate``, ``sync_seconds``, ``sync_burst``, ``sync_backlog``).
        work: the folder for the three data folders.
        node_server: makes an ``idnode serve`` :class:`Server` (``bench.node_server``).
        env: the environment of the processes.
    """

    def __init__(self, args: Any, work: Path, node_server: Any, env: dict[str, str]) -> None:
        self.args = args
        self.work = work
        self.node_server = node_server
        self.env = env
        self.top: Server | None = None
        self.top_port = 0
        self.a: Server | None = None
        self.b: Server | None = None
        self.channels: list[Any] = []
        self.fig: dict[str, Any] = {"workers": args.workers, "notes": []}
        self.next_item = 0

    # processes

    def _start_top(self) -> None:
        data = self.work / "sync-top"
        command = [sys.executable, "-m", "idnode", "topnode", "serve", "--data-dir", str(data)]
        command += ["--grpc-listen", f"127.0.0.1:{self.top_port}", "--grace", "2"]
        self.top = Server("idnode topnode serve", command)
        self.top.env = dict(self.env)
        self.top.start(60)
        self.top_port = self.top.port

    def _start_node(self, name: str, node_prefix: str) -> Server:
        extra = ["--node-prefix", node_prefix, "--top", f"127.0.0.1:{self.top_port}", "--grace", "2"]
        server = self.node_server(self.work / name, self.args.workers, 4 << 30, extra)
        server.start(120)
        return server

    def _stub(self, server: Server, kind: str) -> Any:
        import grpc

        from idnode.proto import registry_pb2_grpc, resolver_pb2_grpc

        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        self.channels.append(channel)
        stub = registry_pb2_grpc.RegistryStub if kind == "registry" else resolver_pb2_grpc.ResolverStub
        return stub(channel)

    def _admin(self, name: str) -> tuple[tuple[str, str], ...]:
        return metadata((self.work / name / "admin.credential").read_text().strip())

    def setup(self) -> None:
        """Top node, node A, an enterprise with 88.118.8 on A, approved on the top node."""
        from idnode.proto import registry_pb2
        from idnode.registry.uscc import check_character

        self._start_top()
        self.a = self._start_node("sync-a", NODE_A)
        reg = self._stub(self.a, "registry")
        admin = self._admin("sync-a")
        head = "91440300192203821"
        code = head + check_character(head)
        reg.AddEnterprise(registry_pb2.Enterprise(credit_code=code, name="Sync Co", contact="x@y.z"), metadata=admin)
        reg.SetEnterpriseStatus(
            registry_pb2.SetEnterpriseStatusRequest(credit_code=code, status=registry_pb2.ENTERPRISE_STATUS_APPROVED),
            metadata=admin,
        )
        reg.AllocatePrefix(registry_pb2.AllocatePrefixRequest(credit_code=code, prefix=PREFIX), metadata=admin)
        self.token = metadata(
            reg.CreateToken(registry_pb2.CreateTokenRequest(role="enterprise", credit_code=code), metadata=admin).token
        )
        self.reg = reg
        self._approve()

    def _approve(self, timeout: float = 30.0) -> None:
        """``idnode topnode approve 88.118.8`` once A asked for it; wait until A learnt it."""
        from idnode.proto import registry_pb2

        command = [sys.executable, "-m", "idnode", "topnode", "approve", PREFIX]
        command += ["--top", f"127.0.0.1:{self.top_port}", "--data-dir", str(self.work / "sync-top")]
        deadline = time.monotonic() + timeout
        while subprocess.run(command, capture_output=True, text=True, timeout=30, env=self.env).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"node A never asked the top node for {PREFIX}")
            time.sleep(0.2)
        admin = self._admin("sync-a")
        while True:
            listed = self.reg.ListPrefixes(registry_pb2.ListPrefixesRequest(), metadata=admin, timeout=10)
            if {p.prefix: p.status for p in listed.prefixes}.get(PREFIX) == registry_pb2.PREFIX_STATUS_APPROVED:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"node A did not learn that {PREFIX} is approved")
            time.sleep(0.05)

    # writes and lag

    def _batch(self, count: int) -> list[Any]:
        first = self.next_item
        self.next_item += count
        return identifier_writes(f"{PREFIX}/SYNC-", "https://sync.example/", first, count)

    def _create(self, items: list[Any]) -> None:
        batch_create(self.reg, items, self.token)

    def _sync(self) -> Any:
        from idnode.proto import registry_pb2

        return self.reg.GetStats(registry_pb2.StatsRequest(), metadata=self._admin("sync-a"), timeout=10).sync

    def _wait_synced(self, timeout: float = SYNC_TIMEOUT) -> tuple[float, Any]:
        """Poll every 20 ms until lag_sequences is 0; (the monotonic time it was seen, the stats)."""
        deadline = time.monotonic() + timeout
        while True:
            sync = self._sync()
            now = time.monotonic()
            if sync.last_sequence and sync.lag_sequences == 0:
                return now, sync
            if now > deadline:
                raise RuntimeError(f"node A not synced after {timeout:g} s: lag {sync.lag_sequences}")
            time.sleep(0.02)

    def _write_many(self, total: int, batch: int) -> float:
        """``total`` identifiers in BatchCreate of ``batch``, ``IN_FLIGHT`` at once; the time of the last reply."""
        batches = [self._batch(min(batch, total - k)) for k in range(0, total, batch)]
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            for _ in pool.map(self._create, batches):
                pass
        return time.monotonic()

    def steady(self) -> None:
        args = self.args
        schedule = pace_schedule(args.sync_rate, args.sync_seconds, STEADY_BATCH)
        batches = [self._batch(STEADY_BATCH) for _ in schedule]
        samples: list[tuple[float, int, float]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                try:
                    sync = self._sync()
                    samples.append((time.monotonic(), sync.lag_sequences, sync.lag_seconds))
                except Exception as exc:  # reported, the sampling goes on
                    self.fig["notes"].append(f"(a) a lag sample failed: {type(exc).__name__}")
                stop.wait(SAMPLE_EVERY)

        _say(f"sync (a): {args.sync_rate:g} ids/s for {args.sync_seconds:g} s")
        sampler = threading.Thread(target=sample, name="bench-sync-lag", daemon=True)
        t0 = time.monotonic()
        sampler.start()
        try:
            late = 0
            for offset, items in zip(schedule, batches, strict=True):
                wait = t0 + offset - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -0.05:
                    late += 1
                self._create(items)
            last = time.monotonic()
            synced, _ = self._wait_synced()
            time.sleep(SAMPLE_EVERY)  # one sample after synced
        finally:
            stop.set()
            sampler.join(15)
        written = len(schedule) * STEADY_BATCH
        duration = last - t0 + STEADY_BATCH / args.sync_rate  # each batch stands for one period of the clock
        self.fig["steady"] = {
            "target_rate": args.sync_rate,
            "seconds": args.sync_seconds,
            "written": written,
            "write_seconds": duration,
            "achieved_rate": rate(written, duration),
            "late_batches": late,
            "lag_sequences": summary([float(s[1]) for s in samples if s[0] <= last]),
            "lag_seconds": summary([s[2] for s in samples if s[0] <= last]),
            "to_synced_s": synced - last,
        }
        if late:
            self.fig["notes"].append(f"(a) {late} of {len(schedule)} batches went out more than 50 ms late")

    def burst(self) -> None:
        n = self.args.sync_burst
        _say(f"sync (b): a burst of {n:,} identifiers")
        before = self._sync().last_sequence
        t0 = time.monotonic()
        last = self._write_many(n, BURST_BATCH)
        synced, sync = self._wait_synced()
        changes = sync.last_sequence - before
        self.fig["burst"] = {
            "written": n,
            "changes": changes,
            "write_seconds": last - t0,
            "write_rate": rate(n, last - t0),
            "to_synced_s": synced - last,
            "end_to_end_rate": rate(changes, synced - t0),
        }

    def backlog(self) -> None:
        n = self.args.sync_backlog
        _say(f"sync (c): top node stopped, {n:,} identifiers written, top node started")
        before = self._sync().last_sequence
        assert self.top is not None
        self.top.stop()
        self.top = None
        self._write_many(n, BURST_BATCH)
        lagging = self._sync()
        t0 = time.monotonic()
        self._start_top()
        serving = time.monotonic()
        synced, sync = self._wait_synced()
        changes = sync.last_sequence - before
        self.fig["backlog"] = {
            "written": n,
            "changes": changes,
            "lag_before_restart": lagging.lag_sequences,
            "restart_s": serving - t0,
            "drain_s": synced - serving,
            "drain_rate": rate(changes, synced - serving),
        }
        self.fig["notes"].append(
            "(c) the drain time includes the node's reconnect to the restarted top node (its retry back-off)"
        )

    def recursion(self) -> None:
        from idnode.proto import resolver_pb2

        _say(f"sync (d): node B resolves {RESOLVE_N} handles of A")
        self.b = self._start_node("sync-b", NODE_B)
        via_b, at_a = self._stub(self.b, "resolver"), self._stub(self.a, "resolver")
        count = min(RESOLVE_N, self.next_item)
        step = max(1, self.next_item // count)
        handles = [f"{PREFIX}/SYNC-{i:07d}" for i in range(0, step * count, step)][:count]

        def timed(stub: Any, handle: str) -> tuple[float, bool]:
            t = time.perf_counter()
            try:
                reply = stub.Resolve(resolver_pb2.ResolveRequest(handle=handle), timeout=CALL_TIMEOUT)
                ok = reply.response_code == 1 and reply.handle == handle
            except Exception:
                ok = False
            return time.perf_counter() - t, ok

        results = {}
        for name, stub in (("cold", via_b), ("cached", via_b), ("local", at_a)):
            results[name] = [timed(stub, h) for h in handles]
        cold = results["cold"]
        self.fig["resolve"] = {
            "handles": count,
            "first": cold[0][0] if cold else None,
            "cold": summary([t for t, _ in cold[1:]]),
            "cached": summary([t for t, _ in results["cached"]]),
            "local": summary([t for t, _ in results["local"]]),
            "errors": [sum(1 for _, ok in results[k] if not ok) for k in ("cold", "cached", "local")],
        }
        self.fig["notes"].append(
            "(d) cold: each handle's first resolve via B, the very first (site lookup at the top node) apart"
        )

    def run(self) -> dict[str, Any]:
        """All four parts; what failed is noted in the figures (``failed``), the processes always stopped."""
        return run_parts(
            "sync", self.fig, (self.setup, self.steady, self.burst, self.backlog, self.recursion), self.close
        )

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        self.channels.clear()
        for name in ("b", "a", "top"):
            server = getattr(self, name)
            if server is not None:
                try:
                    server.stop()
                finally:
                    setattr(self, name, None)
