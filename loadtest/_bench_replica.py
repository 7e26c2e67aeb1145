"""`idnode bench --replica`: read replicas measured with the project's own processes on loopback.

``--count`` identifiers are loaded into a primary's folder (through the
registry, so the change log holds every one), then ``idnode serve`` runs the
primary (``--workers``) and replicas (``--replica-workers``, default 1) that
follow it:

(a) replay: an empty replica follows the whole log from sequence 1; the time
    from its start to caught up, and entries/s (the baseline of (d));
(b) steady: ``--replica-rate`` registrations/s for the steady seconds
    (BatchCreate of 100 paced on a clock). For every batch the time from the
    primary's reply (its entries committed) to the replica's head reaching
    the batch's last sequence (the replica's head polled every 5 ms with
    GetReplicationInfo); beside it, as the baseline, the primary's own reply
    time for the same batch. The replica's reported lag (GetStats
    ``.replication``) sampled every 0.25 s;
(c) catch-up: the replica stopped (SIGTERM), ``--replica-backlog``
    identifiers written (BatchCreate of 1000, 4 in flight: the primary's
    write rate is the baseline), the replica started again: its apply rate
    (entries/s from serving to caught up);
(d) snapshot bootstrap: the primary restarted with ``--log-retention 1s``
    (its log pruned to the head), a new empty replica bootstraps from a
    snapshot; the time from its start to caught up, against (a);
(e) with ``--replica-tls``: replay from sequence 1 over mutual TLS (the
    primary restarted with ``--tls-cert`` and ``--replication-listen`` /
    ``--replication-client-ca``, the replica with ``--primary-ca/-cert/-key``;
    ``idnode certs dev`` files) and in clear (the baseline), alternating,
    :data:`TLS_ROUNDS` rounds of each on the same primary folder: medians and
    their ratio;
then every replica's ``idnode checksum`` is compared with the primary's.

Every process started is stopped in ``finally``; every loop is bounded in
count and time. The pure parts (lag matching, table) are tested without
processes.
"""

from __future__ import annotations

import bisect
import functools
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idnode.client import metadata
from idnode.loadtest import _bench_report as report
from idnode.loadtest._bench_proc import Server
from idnode.loadtest._bench_sync import batch_create, identifier_writes, pace_schedule, rate, run_parts, summary

if TYPE_CHECKING:
    from idnode.sync.tls import LinkTls

__all__ = ["ReplicaBench", "render", "visibility_lags"]

STEADY_BATCH = 100
BACKLOG_BATCH = 1000
IN_FLIGHT = 4
POLL_EVERY = 0.005
SAMPLE_EVERY = 0.25
WAIT_TIMEOUT = 1800.0  # seconds a part may wait for a replica (a 1M bootstrap or replay on a slow disk)
TLS_ROUNDS = 3  # (e): replays in clear and over mutual TLS, alternating


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


# -- pure parts ------------------------------------------------------------------------


def visibility_lags(acks: list[tuple[float, int]], heads: list[tuple[float, int]]) -> list[float]:
    """For each write ``(acknowledged at, its last sequence)``, the time until the replica's head
    reached that sequence, from ``heads`` = ``(polled at, replica head)`` in time order.

    A write whose sequence the replica never reached in the polls is left out.
    A poll just before the acknowledgement can already show the sequence (the
    reply was in flight): that lag counts as 0.
    """
    times = [t for t, _ in heads]
    # the first poll at which the head reached at least s, for increasing s: heads only grow
    out = []
    for acked, sequence in acks:
        index = bisect.bisect_left(times, acked)
        # an earlier poll may already have seen it (the ack was slower than the replica)
        if index > 0 and heads[index - 1][1] >= sequence:
            out.append(0.0)
            continue
        for t, head in heads[index:]:
            if head >= sequence:
                out.append(t - acked)
                break
    return out


def rows_of(fig: dict[str, Any]) -> list[list[str]]:
    """The table's rows (part, measure, value); missing parts are left out."""
    fmt = report.fmt
    rows: list[list[str]] = []
    a = fig.get("replay")
    if a:
        rows += [
            ["(a) replay", "entries from sequence 1", f"{a['entries']:,}"],
            ["(a) replay", "replica start -> caught up", _s(a["seconds"])],
            ["(a) replay", "apply rate", f"{fmt(a['rate'])} entries/s"],
        ]
    b = fig.get("steady")
    if b:
        vis, ack = b["visible"], b["ack"]
        rows += [
            ["(b) steady", "target / achieved rate", f"{fmt(b['target_rate'])} / {fmt(b['achieved_rate'])} ids/s"],
            [
                "(b) steady",
                "primary reply (baseline) median / p99",
                f"{_s(ack['median'])} / {_s(ack['p99'])} (n={ack['n']})",
            ],
            [
                "(b) steady",
                "reply -> on the replica median / p99 / max",
                f"{_s(vis['median'])} / {_s(vis['p99'])} / {_s(vis['max'])} (n={vis['n']})",
            ],
            [
                "(b) steady",
                "reported lag sequences median / max",
                f"{fmt(b['lag_sequences']['median'])} / {fmt(b['lag_sequences']['max'])}",
            ],
            [
                "(b) steady",
                "reported lag seconds median / max",
                f"{_s(b['lag_seconds']['median'])} / {_s(b['lag_seconds']['max'])}",
            ],
        ]
    c = fig.get("catchup")
    if c:
        rows += [
            ["(c) catch-up", "entries written while the replica was down", f"{c['entries']:,}"],
            ["(c) catch-up", "primary write rate (baseline)", f"{fmt(c['write_rate'])} ids/s"],
            ["(c) catch-up", "replica serving -> caught up", _s(c["seconds"])],
            ["(c) catch-up", "apply rate", f"{fmt(c['rate'])} entries/s ({fmt(c['ratio'])}x the write rate)"],
        ]
    e = fig.get("tls")
    if e:
        rows += [
            ["(e) TLS replay", "entries from sequence 1, rounds of each", f"{e['entries']:,}, {e['rounds']}"],
            ["(e) TLS replay", "in clear (baseline): start -> caught up, median", _s(e["plain_s"])],
            ["(e) TLS replay", "mutual TLS: start -> caught up, median", _s(e["tls_s"])],
            [
                "(e) TLS replay",
                "apply rate clear / TLS",
                f"{fmt(e['plain_rate'])} / {fmt(e['tls_rate'])} entries/s ({fmt(e['ratio'])}x)",
            ],
        ]
    d = fig.get("bootstrap")
    if d:
        rows += [
            ["(d) bootstrap", "identifiers in the snapshot", f"{d['identifiers']:,}"],
            ["(d) bootstrap", "replica start -> caught up (snapshot)", _s(d["seconds"])],
            ["(d) bootstrap", "vs (a) replaying the log", f"{fmt(d['speedup'])}x faster"],
        ]
    if "checksums_equal" in fig:
        rows.append(["check", "replicas' idnode checksum = primary's", "yes" if fig["checksums_equal"] else "NO"])
    return rows


_s = functools.partial(report.duration, digits=1)  # the replica table's durations: ms to 0.1


def render(fig: dict[str, Any], markdown: bool = False) -> str:
    """The replica part as a table (plain text or Markdown), with its header line and notes."""
    header = (
        f"read replicas ({fig.get('count', 0):,} identifiers; primary --workers {fig.get('workers')}, "
        f"replicas --workers {fig.get('replica_workers')}, loopback)"
    )
    return report.part(header, rows_of(fig), fig.get("notes", []), markdown)


# -- the processes -------------------------------------------------------------------------


class ReplicaBench:
    """The replica part in ``work``.

    Args:
        args: the bench's options (``count``, ``workers``, ``replica_workers``, ``replica_rate``,
            ``replica_seconds``, ``replica_backlog``, ``seed``).
        work: the folder for the data folders.
        node_server: makes an ``idnode serve`` :class:`Server` (``bench.node_server``).
        env: the environment of the processes.
        load: ``load(data_dir, count) -> enterprise token``: fills a primary's folder.
        prefix: the prefix the loaded identifiers are under (writes go there too).
    """

    def __init__(self, args: Any, work: Path, node_server: Any, env: dict[str, str], load: Any, prefix: str) -> None:
        self.args = args
        self.work = work
        self.node_server = node_server
        self.env = env
        self.load = load
        self.prefix = prefix
        self.primary: Server | None = None
        self.replicas: dict[str, Server] = {}
        self.channels: list[Any] = []
        self.fig: dict[str, Any] = {
            "count": args.count,
            "workers": args.workers,
            "replica_workers": args.replica_workers,
            "notes": [],
        }
        self.next_item = 0
        self.map_size = max(1 << 30, args.count * 4096)

    # processes and stubs

    def _start_primary(self, *extra: str, tls: Any = None) -> None:
        """Start the primary; ``tls`` = ``(certs, replication port)``: it serves TLS and requires client
        certificates for replication on that port (the flags in ``extra``), where the bench's Replication
        stub goes with the development client certificate."""
        self.primary = self.node_server(self.work / "primary", self.args.workers, self.map_size, list(extra))
        self.primary.start(300)
        self.admin = metadata((self.work / "primary" / "admin.credential").read_text().strip())
        from idnode.sync.tls import LinkTls

        certs, public = (tls[0] if tls else None), f"127.0.0.1:{self.primary.port}"
        self.reg = self._stub(public, "registry", certs and LinkTls.load(certs.ca, None, None, "primary"))
        client = certs and LinkTls.load(certs.ca, certs.client_cert, certs.client_key, "primary")
        self.rep = self._stub(tls[1] if tls else public, "replication", client)

    def _start_replica(self, name: str, primary: str = "", *tls: str) -> Server:
        """Start a replica of the primary (its gRPC port, or ``primary`` with the ``tls`` flags)."""
        primary = primary or f"127.0.0.1:{self.primary.port}"
        extra = ["--replica-of", primary, "--primary-token-file", str(self.credential), *tls]
        server = self.node_server(self.work / name, self.args.replica_workers, self.map_size, extra + ["--grace", "2"])
        server.start(300)
        self.replicas[name] = server
        return server

    def _stop_replica(self, name: str) -> None:
        server = self.replicas.pop(name, None)
        if server is not None:
            server.stop()

    def _stub(self, server: Server | str, kind: str, tls: LinkTls | None = None) -> Any:
        """A stub of ``server`` (or ``HOST:PORT``); TLS with ``tls`` (trust roots, and a client certificate)."""
        from idnode.proto import registry_pb2_grpc, replication_pb2_grpc
        from idnode.sync.tls import channel as link_channel

        target = server if isinstance(server, str) else f"127.0.0.1:{server.port}"
        channel = link_channel(target, tls, aio=False)
        self.channels.append(channel)
        make = {"registry": registry_pb2_grpc.RegistryStub, "replication": replication_pb2_grpc.ReplicationStub}
        return make[kind](channel)

    def _head(self, stub: Any) -> int:
        from idnode.proto import replication_pb2

        info = stub.GetReplicationInfo(replication_pb2.ReplicationInfoRequest(), metadata=self.admin, timeout=10)
        return info.last_sequence

    def _wait_caught_up(self, server: Server, timeout: float = WAIT_TIMEOUT) -> float:
        """Poll the replica every 20 ms until its head is the primary's; the monotonic time seen."""
        replica = self._stub(server, "replication")
        want = self._head(self.rep)
        deadline = time.monotonic() + timeout
        while True:
            try:
                head = self._head(replica)
            except Exception:  # the replica is still starting its workers
                head = -1
            now = time.monotonic()
            if head == want:
                return now
            if now > deadline:
                raise RuntimeError(f"replica not caught up after {timeout:g} s: {head} of {want}")
            time.sleep(0.02)

    # writes

    def _batch(self, count: int) -> list[Any]:
        first = self.next_item
        self.next_item += count
        return identifier_writes(f"{self.prefix}/REPL-", "https://replica.example/", first, count)

    def _create(self, items: list[Any]) -> int:
        """BatchCreate ``items``; the highest sequence it committed."""
        return batch_create(self.reg, items, self.token)

    # the parts

    def setup(self) -> None:
        _say(f"replica: loading {self.args.count:,} identifiers into the primary's folder")
        started = time.monotonic()
        self.token = metadata(self.load(self.work / "primary", self.args.count))
        self.fig["load_s"] = time.monotonic() - started
        self._start_primary("--log-retention", "off")
        self.credential = self.work / "primary.credential"
        self.credential.write_text(self.admin[0][1].removeprefix("Bearer ") + "\n")

    def replay(self) -> None:
        entries = self._head(self.rep)
        _say(f"replica (a): an empty replica replays {entries:,} entries from sequence 1")
        t0 = time.monotonic()
        server = self._start_replica("replica-a")
        caught = self._wait_caught_up(server)
        self.fig["replay"] = {"entries": entries, "seconds": caught - t0, "rate": rate(entries, caught - t0)}

    def steady(self) -> None:
        args = self.args
        replica = self._stub(self.replicas["replica-a"], "replication")
        schedule = pace_schedule(args.replica_rate, args.replica_seconds, STEADY_BATCH)
        batches = [self._batch(STEADY_BATCH) for _ in schedule]
        heads: list[tuple[float, int]] = []
        samples: list[tuple[float, int, float]] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                try:
                    heads.append((time.monotonic(), self._head(replica)))
                except Exception as exc:  # noted; polling goes on
                    self.fig["notes"].append(f"(b) a head poll failed: {type(exc).__name__}")
                stop.wait(POLL_EVERY)

        def sample() -> None:
            from idnode.proto import registry_pb2

            stats = self._stub(self.replicas["replica-a"], "registry")
            while not stop.is_set():
                try:
                    r = stats.GetStats(registry_pb2.StatsRequest(), metadata=self.admin, timeout=10).replication
                    samples.append((time.monotonic(), r.lag_sequences, r.lag_seconds))
                except Exception as exc:
                    self.fig["notes"].append(f"(b) a lag sample failed: {type(exc).__name__}")
                stop.wait(SAMPLE_EVERY)

        _say(f"replica (b): {args.replica_rate:g} ids/s for {args.replica_seconds:g} s")
        threads = [threading.Thread(target=f, daemon=True) for f in (poll, sample)]
        acks: list[tuple[float, int]] = []
        replies: list[float] = []
        t0 = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            late = 0
            for offset, items in zip(schedule, batches, strict=True):
                wait = t0 + offset - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -0.05:
                    late += 1
                sent = time.monotonic()
                sequence = self._create(items)
                acked = time.monotonic()
                acks.append((acked, sequence))
                replies.append(acked - sent)
            last = time.monotonic()
            self._wait_caught_up(self.replicas["replica-a"])
            time.sleep(0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(15)
        written = len(schedule) * STEADY_BATCH
        duration = last - t0 + STEADY_BATCH / args.replica_rate
        self.fig["steady"] = {
            "target_rate": args.replica_rate,
            "seconds": args.replica_seconds,
            "written": written,
            "achieved_rate": rate(written, duration),
            "late_batches": late,
            "ack": summary(replies),
            "visible": summary(visibility_lags(acks, heads)),
            "lag_sequences": summary([float(s[1]) for s in samples if s[0] <= last]),
            "lag_seconds": summary([s[2] for s in samples if s[0] <= last]),
            "polls": len(heads),
        }
        self.fig["notes"].append(
            f"(b) the replica's head polled every {POLL_EVERY * 1e3:g} ms (GetReplicationInfo): lags are "
            "rounded up to the next poll"
        )
        if late:
            self.fig["notes"].append(f"(b) {late} of {len(schedule)} batches went out more than 50 ms late")

    def catchup(self) -> None:
        n = self.args.replica_backlog
        _say(f"replica (c): replica stopped, {n:,} identifiers written, replica started")
        self._stop_replica("replica-a")
        before = self._head(self.rep)
        batches = [self._batch(min(BACKLOG_BATCH, n - k)) for k in range(0, n, BACKLOG_BATCH)]
        t0 = time.monotonic()
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            list(pool.map(self._create, batches))
        written = time.monotonic() - t0
        entries = self._head(self.rep) - before
        server = self._start_replica("replica-a")
        serving = time.monotonic()
        caught = self._wait_caught_up(server)
        write_rate = rate(n, written)
        apply_rate = rate(entries, caught - serving)
        self.fig["catchup"] = {
            "entries": entries,
            "write_seconds": written,
            "write_rate": write_rate,
            "seconds": caught - serving,
            "rate": apply_rate,
            "ratio": apply_rate / write_rate if apply_rate and write_rate else None,
        }
        self.fig["notes"].append("(c) the apply time includes the replica's connect to the primary")

    def tls_replay(self) -> None:
        """(e) an empty replica replays the log in clear and over mutual TLS, alternating (the primary restarted
        in each mode on the same folder); medians of :data:`TLS_ROUNDS` each. Replica (a) is stopped first."""
        from idnode.certs import write_dev_certs
        from idnode.loadtest._bench_dns import free_port

        certs = write_dev_certs(self.work / "certs")
        self._stop_replica("replica-a")
        entries = self._head(self.rep)
        _say(f"replica (e): {TLS_ROUNDS} replays of {entries:,} entries in clear and over mutual TLS, alternating")
        times: dict[str, list[float]] = {"plain": [], "tls": []}
        for round_ in range(TLS_ROUNDS):
            for mode in ("plain", "tls"):
                self.primary.stop()
                target, tls = "", ()
                if mode == "plain":
                    self._start_primary("--log-retention", "off")
                else:
                    target = f"127.0.0.1:{free_port()}"
                    server_files = ("--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key))
                    mutual = ("--replication-listen", target, "--replication-client-ca", str(certs.ca))
                    self._start_primary("--log-retention", "off", *server_files, *mutual, tls=(certs, target))
                    tls = ("--primary-ca", str(certs.ca), "--primary-cert", str(certs.client_cert))
                    tls += ("--primary-key", str(certs.client_key))
                name = f"replica-e{round_}-{mode}"
                t0 = time.monotonic()
                server = self._start_replica(name, target, *tls)
                times[mode].append(self._wait_caught_up(server) - t0)
                self._stop_replica(name)
                if self._checksum(name) != self._checksum("primary"):
                    raise RuntimeError(f"(e) replica {name}: idnode checksum differs from the primary's")
                shutil.rmtree(self.work / name, ignore_errors=True)
        plain, tls_s = statistics.median(times["plain"]), statistics.median(times["tls"])
        self.fig["tls"] = {
            "entries": entries,
            "rounds": TLS_ROUNDS,
            "plain_s": plain,
            "tls_s": tls_s,
            "plain_all": times["plain"],
            "tls_all": times["tls"],
            "plain_rate": rate(entries, plain),
            "tls_rate": rate(entries, tls_s),
            "ratio": plain / tls_s if tls_s else None,
        }
        self.fig["notes"].append(
            "(e) each replay from the replica process's start (start-up included) to caught up; every replica's "
            "checksum equal to the primary's; the primary serves gRPC over TLS too in the TLS rounds"
        )
        self.primary.stop()
        self._start_primary("--log-retention", "off")

    def bootstrap(self) -> None:
        _say("replica (d): primary restarted with --log-retention 1s; a new replica bootstraps from a snapshot")
        self.primary.stop()
        self._start_primary("--log-retention", "1s")
        from idnode.proto import replication_pb2

        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:  # the first pruning pass runs at start; the head entry stays
            info = self.rep.GetReplicationInfo(replication_pb2.ReplicationInfoRequest(), metadata=self.admin)
            if info.pruned_sequence == info.last_sequence - 1:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the primary did not prune its log")
            time.sleep(0.1)
        identifiers = self._identifiers("primary")
        t0 = time.monotonic()
        server = self._start_replica("replica-d")
        caught = self._wait_caught_up(server)
        replay = self.fig.get("replay", {}).get("seconds")
        self.fig["bootstrap"] = {
            "identifiers": identifiers,
            "seconds": caught - t0,
            "speedup": replay / (caught - t0) if replay else None,
        }
        self.fig["notes"].append(
            "(a), (d) from the replica process's start (a few hundred ms of it is start-up) to caught up"
        )

    def _checksum(self, name: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "idnode", "checksum", "--data-dir", str(self.work / name)],
            capture_output=True,
            text=True,
            timeout=600,
            env=self.env,
        )
        if done.returncode != 0:
            raise RuntimeError(f"idnode checksum {name}: {done.stderr.strip()}")
        return done.stdout.split("\n", 1)[0]

    def _identifiers(self, name: str) -> int:
        return int(self._checksum(name).split()[1])

    def check(self) -> None:
        for server in self.replicas.values():
            self._wait_caught_up(server)
        want = self._checksum("primary")
        self.fig["checksums_equal"] = all(self._checksum(name) == want for name in self.replicas)

    def run(self) -> dict[str, Any]:
        """Every part; what failed is noted in the figures (``failed``), the processes always stopped."""
        parts = [self.setup, self.replay, self.steady, self.catchup]
        if getattr(self.args, "replica_tls", False):
            parts.append(self.tls_replay)
        return run_parts("replica", self.fig, [*parts, self.bootstrap, self.check], self.close)

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        self.channels.clear()
        for name in list(self.replicas):
            self._stop_replica(name)
        if self.primary is not None:
            try:
                self.primary.stop()
            finally:
                self.primary = None
