"""First figures for a node: Resolve calls/s, BatchResolve ids/s, import rows/s.

Runs side by side, in one run, against a baseline: a bare grpcio aio server
that answers every call with fixed reply bytes of the same size (the floor
grpcio itself sets on this machine), so the ratio shows what the node adds.
Both servers are separate processes on loopback; the client is a grpc.aio
client with several channels (SO_REUSEPORT-style balancing is per
connection) and a fixed number of calls in flight. Every loop is bounded in
count and time. The full benchmark command (`idnode bench`) arrives with the
fast-path issue; this is the quick measurement of the node core.

    python -m idnode.loadtest.quickbench [--seconds 4] [--rounds 3] [--import-rows 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from idnode.proto import resolver_pb2

READY = re.compile(r"listening on [^ ]+:(\d+)")
RESOLVE = "/idnode.v1.Resolver/Resolve"
BATCH = "/idnode.v1.Resolver/BatchResolve"

_BASELINE_SERVER = r"""
import asyncio, sys, grpc
reply, batch = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])
async def resolve(request, context): return reply
async def batch_resolve(request, context): return batch
async def main():
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("idnode.v1.Resolver", {
        "Resolve": grpc.unary_unary_rpc_method_handler(resolve),
        "BatchResolve": grpc.unary_unary_rpc_method_handler(batch_resolve)})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"baseline listening on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()
asyncio.run(main())
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1")
    )
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = READY.search(line)
        if match:
            return proc, int(match.group(1))
    proc.kill()
    raise RuntimeError("server did not start:\n" + "".join(lines))


async def _drive(
    port: int, method: str, requests: list[bytes], seconds: float, in_flight: int, channels: int, per_call: int
) -> float:
    """Items per second over a fixed time with ``in_flight`` calls outstanding."""
    chans = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(channels)]
    calls = [ch.unary_unary(method) for ch in chans]
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(i: int) -> None:
        nonlocal done
        call = calls[i % len(calls)]
        rnd = random.Random(i)
        while time.monotonic() < deadline:
            await call(requests[rnd.randrange(len(requests))], timeout=10)
            done += 1

    start = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(in_flight)))
    elapsed = time.monotonic() - start
    for ch in chans:
        await ch.close()
    return done * per_call / elapsed


def _import_rows(port: int, token: str, rows: int, workdir: Path) -> float:
    from idnode.importer import iter_items, run_import
    from idnode.proto import registry_pb2_grpc

    path = workdir / "rows.jsonl"
    with path.open("w") as fh:
        for i in range(rows):
            fh.write(
                json.dumps(
                    {
                        "handle": f"88.118.8/BENCH-{i:08d}",
                        "values": [
                            {"index": 1, "type": "URL", "data": f"https://bench.example/{i}"},
                            {"index": 2, "type": "productName", "data": "Bench pump"},
                            {"index": 3, "type": "model", "data": f"BP-{i % 7}"},
                        ],
                    }
                )
                + "\n"
            )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = registry_pb2_grpc.RegistryStub(channel)
    start = time.monotonic()
    summary = run_import(stub, iter_items(path, None), token, batch_size=1000)
    elapsed = time.monotonic() - start
    channel.close()
    if summary.rejected:
        raise RuntimeError(f"import rejected rows: {summary.rejected[:3]}")
    return rows / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100, help="handles per BatchResolve call")
    parser.add_argument("--import-rows", type=int, default=20000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="idnode-bench-") as tmp:
        workdir = Path(tmp)
        node, node_port = _start(
            [
                sys.executable,
                "-m",
                "idnode",
                "serve",
                "--demo",
                "--data-dir",
                str(workdir / "data"),
                "--grpc-listen",
                "127.0.0.1:0",
                "--log-level",
                "warning",
            ]
        )
        try:
            handles = [f"88.118.8/DEMO-{n:06d}" for n in range(1, 10001)]
            singles = [resolver_pb2.ResolveRequest(handle=h).SerializeToString() for h in handles]
            rnd = random.Random(7)
            batches = [
                resolver_pb2.BatchResolveRequest(handles=rnd.sample(handles, args.batch)).SerializeToString()
                for _ in range(200)
            ]
            # The baseline answers with a real node reply of the same size.
            channel = grpc.insecure_channel(f"127.0.0.1:{node_port}")
            reply = channel.unary_unary(RESOLVE)(singles[0])
            batch_reply = channel.unary_unary(BATCH)(batches[0])
            channel.close()
            base, base_port = _start([sys.executable, "-c", _BASELINE_SERVER, reply.hex(), batch_reply.hex()])
            try:
                results: dict[str, list[float]] = {
                    k: [] for k in ("node_resolve", "base_resolve", "node_batch", "base_batch")
                }
                cpu: dict[str, list[float]] = {k: [] for k in results}
                for _ in range(args.rounds):
                    for key, port, pid, method, reqs, per in (
                        ("node_resolve", node_port, node.pid, RESOLVE, singles, 1),
                        ("base_resolve", base_port, base.pid, RESOLVE, singles, 1),
                        ("node_batch", node_port, node.pid, BATCH, batches, args.batch),
                        ("base_batch", base_port, base.pid, BATCH, batches, args.batch),
                    ):
                        before = _cpu_seconds(pid)
                        rate = asyncio.run(_drive(port, method, reqs, args.seconds, args.in_flight, args.channels, per))
                        results[key].append(rate)
                        cpu[key].append((_cpu_seconds(pid) - before) / args.seconds)
            finally:
                base.send_signal(signal.SIGTERM)
                base.wait(10)
            token = (workdir / "data" / "demo.token").read_text().strip()
            import_rate = _import_rows(node_port, token, args.import_rows, workdir)
        finally:
            node.send_signal(signal.SIGTERM)
            node.wait(30)

    med = {k: statistics.median(v) for k, v in results.items()}
    server_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(
        f"idnode quickbench: {args.rounds} rounds x {args.seconds:g} s, {args.in_flight} in flight, "
        f"{args.channels} channels, {os.cpu_count()} cores (client and servers share them)"
    )
    print(f"{'measurement':<34}{'node':>12}{'baseline':>12}{'ratio':>8}{'server CPU (node/base)':>26}")
    for label, key, unit in (("Resolve", "resolve", "calls/s"), (f"BatchResolve x{args.batch}", "batch", "ids/s")):
        n, b = med[f"node_{key}"], med[f"base_{key}"]
        print(
            f"{label + ' ' + unit:<34}{n:>12,.0f}{b:>12,.0f}{n / b:>8.2f}"
            f"{server_cpu[f'node_{key}']:>16.2f} / {server_cpu[f'base_{key}']:.2f}"
        )
    print(f"{'import (BatchCreate x1000) rows/s':<34}{import_rate:>12,.0f}")
    print("per-round figures: " + json.dumps({k: [round(x) for x in v] for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
