"""The benchmark's load process: gRPC load (closed and open loop), import and raw LMDB runs.

It runs apart from the servers it measures (``multiprocessing`` spawn; the
bench process sends one task at a time over a pipe and gets one result dict
back), so its CPU is its own and is reported beside every figure. Every run
is bounded in time and count; traffic goes to 127.0.0.1 only.

The pure helpers at the top (:func:`due_count`, :func:`scheduled_at`,
:func:`percentile`) hold the open-loop scheduler's arithmetic and are unit
tested.
"""

from __future__ import annotations

import asyncio
import math
import random
import resource
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

HOST = "127.0.0.1"
RESOLVE = "/idnode.v1.Resolver/Resolve"
BATCH = "/idnode.v1.Resolver/BatchResolve"
STREAM = "/idnode.v1.Resolver/ResolveStream"
CALL_TIMEOUT = 10.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_DETAILS_KEY = "grpc-status-details-bin"
_ERROR_SAMPLES = 3


# -- scheduler arithmetic (pure) -----------------------------------------------------


def scheduled_at(start: float, rate: float, i: int) -> float:
    """When send ``i`` (0-based) of an open-loop run at ``rate``/s starting at ``start`` is due."""
    return start + i / rate


def due_count(elapsed: float, rate: float, limit: int) -> int:
    """How many sends are due ``elapsed`` seconds into an open-loop run: send ``i`` is due at
    ``i / rate``, so at ``elapsed`` the sends ``0 .. floor(elapsed * rate)`` are due, never more
    than ``limit`` and none before the start."""
    if elapsed < 0 or limit <= 0:
        return 0
    # A tiny epsilon so that 0.03 s at 100/s counts send 3 as due despite 0.03 * 100 = 2.9999999999999996.
    return min(limit, math.floor(elapsed * rate + 1e-9) + 1)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (``fraction`` 0.99 for p99); NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _latency_summary(latencies: list[float]) -> dict[str, float]:
    latencies.sort()
    return {
        "p50_ms": percentile(latencies, 0.50) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "max_ms": (latencies[-1] * 1e3) if latencies else math.nan,
    }


# -- request pools ------------------------------------------------------------------


class Pools:
    """Serialized requests built once per data set, with what each reply must say."""

    def __init__(self, count: int, prefix: str, seed: int, pool: int, batch: int, unknown_fraction: float) -> None:
        from idnode.loadtest import datagen
        from idnode.proto import resolver_pb2

        rnd = random.Random(seed)
        pool = max(1, min(pool, count))
        indexes = rnd.sample(range(count), pool)
        self.handles = [datagen.handle_of(n, prefix, seed) for n in indexes]
        self.unary = [resolver_pb2.ResolveRequest(handle=h).SerializeToString() for h in self.handles]
        self.batch_size = min(batch, len(self.handles))
        self.batches: list[bytes] = []
        self.batch_ends: list[tuple[str, str]] = []
        for start in range(0, len(self.handles) - self.batch_size + 1, self.batch_size):
            part = self.handles[start : start + self.batch_size]
            self.batches.append(resolver_pb2.BatchResolveRequest(handles=part).SerializeToString())
            self.batch_ends.append((part[0], part[-1]))
        # The mix: known handles, and about unknown_fraction handles past the loaded range
        # (same prefix, never written: the node answers 100).
        self.mix: list[tuple[bytes, str, int]] = []
        for i, handle in enumerate(self.handles):
            if rnd.random() < unknown_fraction:
                unknown = datagen.handle_of(count + i, prefix, seed)
                self.mix.append((resolver_pb2.ResolveRequest(handle=unknown).SerializeToString(), unknown, 100))
            else:
                self.mix.append((self.unary[i], handle, 1))
        self.keys: list[bytes] | None = None

    def lmdb_keys(self) -> list[bytes]:
        from idnode import _fastpath

        if self.keys is None:
            self.keys = [_fastpath.handle_key(*_fastpath.parse_handle(h)) for h in self.handles]
        return self.keys


# -- gRPC load ------------------------------------------------------------------------


def _channels(port: int, count: int) -> list[Any]:
    import grpc

    options = [
        # Each channel its own TCP connection (SO_REUSEPORT balances per connection).
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    return [
        grpc.aio.insecure_channel(f"{HOST}:{port}", options=[*options, ("idnode.bench.channel", i)])
        for i in range(count)
    ]


def _handle_code(err: Any) -> int:
    """The Handle response code in a failed call's rich status details (0 when absent)."""
    from google.rpc import status_pb2

    from idnode.proto import common_pb2

    for key, value in err.trailing_metadata() or ():
        if key == _DETAILS_KEY:
            for detail in status_pb2.Status.FromString(value).details:
                if detail.Is(common_pb2.HandleError.DESCRIPTOR):
                    handle_error = common_pb2.HandleError()
                    detail.Unpack(handle_error)
                    return handle_error.response_code
    return 0


class _Tally:
    __slots__ = ("calls", "errors", "items", "latencies", "samples")

    def __init__(self) -> None:
        self.calls = 0
        self.items = 0
        self.errors = 0
        self.latencies: list[float] = []
        self.samples: list[str] = []

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.samples) < _ERROR_SAMPLES:
            self.samples.append(text[:200])


def _unary_checker(pools: Pools, echo_handle: str | None) -> Callable[[bytes, int], str]:
    from idnode.proto import resolver_pb2

    parse = resolver_pb2.ResolveResponse.FromString
    handles = pools.handles

    def check(reply: bytes, j: int) -> str:
        msg = parse(reply)
        if msg.response_code != 1:
            return f"response_code {msg.response_code}: {msg.message}"
        expected = echo_handle if echo_handle is not None else handles[j]
        if msg.handle != expected:
            return f"reply for {msg.handle!r}, asked {expected!r}"
        return ""

    return check


def _batch_checker(pools: Pools, echo_ends: tuple[str, str] | None) -> Callable[[bytes, int], str]:
    from idnode.proto import resolver_pb2

    parse = resolver_pb2.BatchResolveResponse.FromString
    size = pools.batch_size

    def check(reply: bytes, j: int) -> str:
        results = parse(reply).results
        if len(results) != size:
            return f"{len(results)} results for {size} handles"
        for result in results:
            if result.response_code != 1:
                return f"response_code {result.response_code}: {result.message}"
        first, last = echo_ends if echo_ends is not None else pools.batch_ends[j]
        if results[0].handle != first or results[-1].handle != last:
            return "results out of order"
        return ""

    return check


async def _closed_loop(task: dict[str, Any], pools: Pools) -> dict[str, Any]:
    """``concurrency`` calls (or stream messages) outstanding for ``seconds``; every reply checked."""
    import grpc

    kind, concurrency, seconds = task["kind"], task["concurrency"], task["seconds"]
    channels = _channels(task["port"], max(1, min(task["channels"], concurrency)))
    tally = _Tally()
    echo = task.get("echo")
    if kind == "resolve":
        requests, check, per_call = pools.unary, _unary_checker(pools, echo and echo["handle"]), 1
    elif kind in ("batch", "stream"):
        ends = (echo["first"], echo["last"]) if echo else None
        requests, check, per_call = pools.batches, _batch_checker(pools, ends), pools.batch_size
    elif kind == "mix":
        requests, check, per_call = [m[0] for m in pools.mix], _unary_checker(pools, None), 1
    else:
        raise ValueError(f"unknown load kind {kind!r}")
    n = len(requests)
    perf = time.perf_counter
    deadline = 0.0

    async def unary_worker(w: int) -> None:
        call = channels[w % len(channels)].unary_unary(BATCH if kind == "batch" else RESOLVE)
        rnd = random.Random(w)
        while perf() < deadline:
            j = rnd.randrange(n)
            t0 = perf()
            try:
                reply = await call(requests[j], timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as err:
                if kind == "mix" and pools.mix[j][2] == 100 and err.code() == grpc.StatusCode.NOT_FOUND:
                    code = _handle_code(err)
                    tally.latencies.append(perf() - t0)
                    tally.calls += 1
                    tally.items += 1
                    if code != 100:
                        tally.error(f"unknown handle answered with code {code}")
                    continue
                tally.error(f"{err.code().name}: {err.details()}")
                continue
            tally.latencies.append(perf() - t0)
            tally.calls += 1
            tally.items += per_call
            if kind == "mix" and pools.mix[j][2] != 1:
                tally.error(f"unknown handle {pools.mix[j][1]} resolved")
                continue
            problem = check(reply, j)  # a known handle of the mix is pools.handles[j]
            if problem:
                tally.error(problem)

    async def stream_worker(w: int) -> None:
        call = channels[w % len(channels)].stream_stream(STREAM)()
        rnd = random.Random(w)
        try:
            while perf() < deadline:
                j = rnd.randrange(n)
                t0 = perf()
                await call.write(requests[j])
                reply = await call.read()
                if reply is grpc.aio.EOF:
                    tally.error("stream ended early")
                    return
                tally.latencies.append(perf() - t0)
                tally.calls += 1
                tally.items += per_call
                problem = check(reply, j)
                if problem:
                    tally.error(problem)
            await call.done_writing()
            if await asyncio.wait_for(call.read(), CALL_TIMEOUT) is not grpc.aio.EOF:
                tally.error("reply after the last request")
        except grpc.aio.AioRpcError as err:
            tally.error(f"{err.code().name}: {err.details()}")
        finally:
            call.cancel()

    try:
        for ch in channels:  # connect before the clock starts
            await asyncio.wait_for(ch.channel_ready(), 10)
        worker = stream_worker if kind == "stream" else unary_worker
        cpu0, t0 = _cpu(), perf()
        deadline = t0 + seconds
        await asyncio.wait_for(asyncio.gather(*(worker(w) for w in range(concurrency))), seconds + CALL_TIMEOUT + 5)
        elapsed, cpu = perf() - t0, _cpu() - cpu0
    finally:
        for ch in channels:
            await ch.close()
    return {
        "calls": tally.calls,
        "items": tally.items,
        "errors": tally.errors,
        "error_samples": tally.samples,
        "elapsed": elapsed,
        "rate": tally.items / elapsed if elapsed > 0 else 0.0,
        "client_cpu": cpu / elapsed if elapsed > 0 else 0.0,
        **_latency_summary(tally.latencies),
    }


async def _open_loop(task: dict[str, Any], pools: Pools) -> dict[str, Any]:
    """Unary Resolve sent on a clock at ``rate``/s for ``seconds``; latency runs from each call's
    scheduled time to its reply, so time spent queued (in the client or the server) counts."""
    import grpc

    rate, seconds = float(task["rate"]), float(task["seconds"])
    limit = max(1, int(rate * seconds))
    channels = _channels(task["port"], task["channels"])
    calls = [ch.unary_unary(RESOLVE) for ch in channels]
    echo = task.get("echo")
    check = _unary_checker(pools, echo and echo["handle"])
    requests, n = pools.unary, len(pools.unary)
    tally = _Tally()
    lags: list[float] = []
    slots = asyncio.Semaphore(task.get("max_outstanding", 4096))
    perf = time.perf_counter
    rnd = random.Random(limit)

    async def one(j: int, due: float) -> None:
        try:
            reply = await calls[j % len(calls)](requests[j], timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as err:
            tally.error(f"{err.code().name}: {err.details()}")
            return
        finally:
            slots.release()
        tally.latencies.append(perf() - due)
        tally.calls += 1
        tally.items += 1
        problem = check(reply, j)
        if problem:
            tally.error(problem)

    pending: set[asyncio.Task[None]] = set()
    try:
        for ch in channels:
            await asyncio.wait_for(ch.channel_ready(), 10)
        cpu0 = _cpu()
        start = perf() + 0.01
        sent = 0
        hard_stop = start + seconds + CALL_TIMEOUT
        while sent < limit and perf() < hard_stop:
            due = due_count(perf() - start, rate, limit)
            while sent < due:
                await slots.acquire()
                at = scheduled_at(start, rate, sent)
                lags.append(perf() - at)
                task_ = asyncio.ensure_future(one(rnd.randrange(n), at))
                pending.add(task_)
                task_.add_done_callback(pending.discard)
                sent += 1
            delay = scheduled_at(start, rate, sent) - perf()
            await asyncio.sleep(max(delay, 0))
        send_end = perf()
        if pending:
            await asyncio.wait(set(pending), timeout=CALL_TIMEOUT + 2)
        elapsed, cpu = perf() - start, _cpu() - cpu0
    finally:
        for t in pending:
            t.cancel()
        for ch in channels:
            await ch.close()
    lags.sort()
    send_seconds = max(send_end - start, 1e-9)
    return {
        "calls": tally.calls,
        "items": tally.items,
        "errors": tally.errors + (limit - sent),
        "error_samples": tally.samples + ([f"{limit - sent} sends never made"] if sent < limit else []),
        "elapsed": elapsed,
        "offered_rate": rate,
        "rate": tally.calls / send_seconds,
        "send_lag_p99_ms": percentile(lags, 0.99) * 1e3,
        "client_cpu": cpu / elapsed if elapsed > 0 else 0.0,
        **_latency_summary(tally.latencies),
    }


# -- import and raw LMDB ------------------------------------------------------------


def _import(task: dict[str, Any]) -> dict[str, Any]:
    """Rows through the Registry API (BatchCreate), the way ``idnode import`` sends them."""
    import grpc

    from idnode.importer import ImportItem, run_import
    from idnode.loadtest import datagen
    from idnode.proto import registry_pb2_grpc

    writes = datagen.generate(task["rows"], task["prefix"], task["seed"], task["start"])
    items = [ImportItem(k + 1, w.handle, datagen.to_pb(w), "") for k, w in enumerate(writes)]
    channel = grpc.insecure_channel(
        f"{HOST}:{task['port']}", options=[("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
    )
    try:
        stub = registry_pb2_grpc.RegistryStub(channel)
        cpu0, t0 = _cpu(), time.perf_counter()
        summary = run_import(stub, items, task["token"], task["batch_size"], task["in_flight"])
        elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
    finally:
        channel.close()
    problems = [f"{r.handle}: {r.code} {r.message}" for r in summary.rejected[:_ERROR_SAMPLES]]
    repeats = summary.accepted - summary.created
    if repeats:
        problems.append(f"{repeats} rows were already there (not new)")
    return {
        "calls": len(items),  # rows sent
        "items": summary.created,
        "errors": len(summary.rejected) + repeats,
        "error_samples": problems,
        "elapsed": elapsed,
        "rate": summary.created / elapsed if elapsed > 0 else 0.0,
        "client_cpu": cpu / elapsed if elapsed > 0 else 0.0,
    }


_ENVS: dict[str, Any] = {}


def _node_env(data_dir: str) -> tuple[Any, Any]:
    """The node's LMDB environment opened read-only beside the running node (LMDB readers of
    several processes share one environment; the node's folder lock is its own file)."""
    import lmdb

    env = _ENVS.get(data_dir)
    if env is None:
        env = lmdb.open(f"{data_dir}/lmdb", readonly=True, max_dbs=16, subdir=True, readahead=False, lock=True)
        _ENVS[data_dir] = env
    try:
        db = env.open_db(b"identifiers", create=False)
    except lmdb.MapResizedError:
        env.set_mapsize(0)
        db = env.open_db(b"identifiers", create=False)
    return env, db


def _begin(env: Any) -> Any:
    import lmdb

    try:
        return env.begin()
    except lmdb.MapResizedError:  # the node grew the map since
        env.set_mapsize(0)
        return env.begin()


def _lmdb_get(task: dict[str, Any], pools: Pools) -> dict[str, Any]:
    """Random gets of the keys the node is asked for: one read transaction per get (what the
    node does per handle), or ``per_txn`` gets in one transaction."""
    env, db = _node_env(task["data_dir"])
    keys = pools.lmdb_keys()
    rnd = random.Random(len(keys))
    order = [keys[rnd.randrange(len(keys))] for _ in range(min(100_000, 10 * len(keys)))]
    per_txn, seconds = task["per_txn"], task["seconds"]
    step = 1000 if per_txn == 1 else per_txn
    misses = gets = position = 0
    perf = time.perf_counter
    with _begin(env):  # adopt a map the node grew, once, before the clock starts
        pass
    cpu0, t0 = _cpu(), perf()
    deadline = t0 + seconds
    while perf() < deadline:
        chunk = order[position : position + step]
        position = position + step if position + step < len(order) else 0
        if per_txn == 1:
            for key in chunk:
                with env.begin() as txn:
                    if txn.get(key, db=db) is None:
                        misses += 1
        else:
            with env.begin() as txn:
                for key in chunk:
                    if txn.get(key, db=db) is None:
                        misses += 1
        gets += len(chunk)
    elapsed, cpu = perf() - t0, _cpu() - cpu0
    return {
        "calls": gets,
        "items": gets,
        "errors": misses,
        "error_samples": [f"{misses} keys not found"] if misses else [],
        "elapsed": elapsed,
        "rate": gets / elapsed if elapsed > 0 else 0.0,
        "client_cpu": cpu / elapsed if elapsed > 0 else 0.0,
    }


def _lmdb_put(task: dict[str, Any]) -> dict[str, Any]:
    """Sorted ``putmulti(append=True)`` of the given rows' keys and stored records (read from the
    node's environment) into a fresh environment: all in one transaction, or ``per_txn`` a commit."""
    import shutil
    import tempfile

    import lmdb

    from idnode import _fastpath
    from idnode.loadtest import datagen

    env, db = _node_env(task["data_dir"])
    keys = sorted(
        _fastpath.handle_key(*_fastpath.parse_handle(datagen.handle_of(n, task["prefix"], task["seed"])))
        for n in range(task["start"], task["start"] + task["rows"])
    )
    with _begin(env) as txn:
        rows = [(k, txn.get(k, db=db)) for k in keys]
    missing = sum(1 for _, v in rows if v is None)
    rows = [(k, v) for k, v in rows if v is not None]
    folder = tempfile.mkdtemp(prefix="idnode-bench-lmdb-", dir=task["work_dir"])
    try:
        fresh = lmdb.open(folder, map_size=max(64 << 20, 4 * sum(len(k) + len(v) for k, v in rows)), max_dbs=2)
        out = fresh.open_db(b"identifiers")
        per_txn = task["per_txn"] or len(rows) or 1
        cpu0, t0 = _cpu(), time.perf_counter()
        for start in range(0, len(rows), per_txn):
            with fresh.begin(write=True, db=out) as txn:
                txn.cursor().putmulti(rows[start : start + per_txn], append=True)
        elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
        fresh.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "calls": len(rows),
        "items": len(rows),
        "errors": missing,
        "error_samples": [f"{missing} imported rows not found in the node's store"] if missing else [],
        "elapsed": elapsed,
        "rate": len(rows) / elapsed if elapsed > 0 else 0.0,
        "client_cpu": cpu / elapsed if elapsed > 0 else 0.0,
    }


async def _capture(task: dict[str, Any], pools: Pools) -> dict[str, Any]:
    """One real Resolve and one real BatchResolve reply (the echo server answers with them)."""
    channels = _channels(task["port"], 1)
    try:
        reply = await channels[0].unary_unary(RESOLVE)(pools.unary[0], timeout=CALL_TIMEOUT)
        batch = await channels[0].unary_unary(BATCH)(pools.batches[0], timeout=CALL_TIMEOUT)
    finally:
        await channels[0].close()
    problem = _unary_checker(pools, None)(reply, 0) or _batch_checker(pools, None)(batch, 0)
    if problem:
        raise RuntimeError(f"the node's replies are wrong: {problem}")
    first, last = pools.batch_ends[0]
    return {"resolve": reply, "batch": batch, "handle": pools.handles[0], "first": first, "last": last}


# -- the process loop -----------------------------------------------------------------


def serve(conn: Connection) -> None:
    """Answer tasks from the bench process until it sends ``None`` or goes away."""
    loop = asyncio.new_event_loop()
    pools: Pools | None = None
    try:
        while True:
            try:
                task = conn.recv()
            except EOFError:
                return
            if task is None:
                return
            try:
                op = task["op"]
                if op == "prepare":
                    pools = Pools(**task["args"])
                    result: dict[str, Any] = {"pool": len(pools.handles), "batches": len(pools.batches)}
                elif pools is None:
                    raise RuntimeError("prepare first")
                elif op == "capture":
                    result = loop.run_until_complete(_capture(task, pools))
                elif op == "closed":
                    result = loop.run_until_complete(_closed_loop(task, pools))
                elif op == "open":
                    result = loop.run_until_complete(_open_loop(task, pools))
                elif op == "import":
                    result = _import(task)
                elif op == "lmdb_get":
                    result = _lmdb_get(task, pools)
                elif op == "lmdb_put":
                    result = _lmdb_put(task)
                else:
                    raise ValueError(f"unknown task {op!r}")
                conn.send({"ok": True, **result})
            except Exception as exc:  # reported to the bench process, which flags the run
                conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        for env in _ENVS.values():
            env.close()
        loop.close()
