"""The framework floor: a grpc.aio server that answers the Resolver methods with fixed bytes.

``python -m idnode.loadtest._bench_echo --workers N --replies FILE`` forks N
worker processes (before anything imports grpc) that bind one loopback port
with SO_REUSEPORT, the way the node's prefork workers do, register generic
handlers with identity serializers (as the node's Resolver does) and answer
``Resolve`` with the captured Resolve reply and ``BatchResolve`` and each
``ResolveStream`` message with the captured batch reply. ``FILE`` is JSON
``{"resolve": HEX, "batch": HEX}``. When every worker serves it prints
``echo: gRPC listening on 127.0.0.1:PORT``; SIGTERM stops the workers.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import sys
import time

HOST = "127.0.0.1"
START_TIMEOUT = 60.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Get SIGTERM when the parent process ends, even by SIGKILL (Linux), so no echo server outlives the bench."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _worker(port: int, resolve_reply: bytes, batch_reply: bytes, ready_fd: int) -> int:
    """One worker process: serve until SIGTERM; write one byte to ``ready_fd`` once serving."""
    _die_with_parent()
    import asyncio

    import grpc

    async def resolve(request: bytes, context: object) -> bytes:
        return resolve_reply

    async def batch_resolve(request: bytes, context: object) -> bytes:
        return batch_reply

    async def resolve_stream(requests: object, context: object) -> object:
        async for _ in requests:  # type: ignore[attr-defined]
            yield batch_reply

    async def main() -> None:
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 1),
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ]
        )
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "idnode.v1.Resolver",
                    {
                        "Resolve": grpc.unary_unary_rpc_method_handler(resolve),
                        "BatchResolve": grpc.unary_unary_rpc_method_handler(batch_resolve),
                        "ResolveStream": grpc.stream_stream_rpc_method_handler(resolve_stream),
                    },
                )
            ]
        )
        if server.add_insecure_port(f"{HOST}:{port}") != port:
            raise OSError(f"echo worker could not bind {HOST}:{port}")
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        os.write(ready_fd, b"1")
        await stop.wait()
        await server.stop(0)

    asyncio.run(main())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--replies", required=True, help="JSON file {resolve: HEX, batch: HEX}")
    args = parser.parse_args(argv)
    _die_with_parent()
    with open(args.replies, encoding="utf-8") as fh:
        replies = json.load(fh)
    resolve_reply, batch_reply = bytes.fromhex(replies["resolve"]), bytes.fromhex(replies["batch"])
    # Hold the port with an SO_REUSEPORT socket (bound, not listening) while the workers bind it,
    # so nothing else takes it in between and no connection lands on the placeholder.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((HOST, 0))
    port = holder.getsockname()[1]
    ready_r, ready_w = os.pipe()
    children: list[int] = []
    for _ in range(max(1, args.workers)):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(ready_r)
            code = 1
            try:
                code = _worker(port, resolve_reply, batch_reply, ready_w)
            finally:
                os._exit(code)
        children.append(pid)
    os.close(ready_w)

    def stop(*_: object, code: int = 0) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        remaining = set(children)
        deadline = time.monotonic() + 10
        while remaining and time.monotonic() < deadline:
            for pid in list(remaining):
                try:
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        remaining.discard(pid)
                except ChildProcessError:
                    remaining.discard(pid)
            time.sleep(0.05)
        for pid in remaining:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sys.exit(code)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ready = 0
    deadline = time.monotonic() + START_TIMEOUT
    while ready < len(children) and time.monotonic() < deadline:
        readable, _, _ = select.select([ready_r], [], [], 0.5)
        if readable:
            chunk = os.read(ready_r, 64)
            if not chunk:
                break
            ready += len(chunk)
    holder.close()
    if ready < len(children):
        print(f"echo: only {ready} of {len(children)} workers started", file=sys.stderr, flush=True)
        stop(code=1)
    print(f"echo: gRPC listening on {HOST}:{port} ({len(children)} workers)", flush=True)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        # A worker died: the floor is no longer what it claims to be.
        print(f"echo: worker {pid} exited with status {status}", file=sys.stderr, flush=True)
        children.remove(pid)
        stop(code=1)


if __name__ == "__main__":
    raise SystemExit(main())
