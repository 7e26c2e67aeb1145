"""Request ids (idnode/requestid.py) on the real gRPC and HTTP servers, and in the log lines."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Iterator

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer

from idnode import requestid
from idnode.node import JsonFormatter
from idnode.proto import resolver_pb2, resolver_pb2_grpc
from idnode.resolver.grpc import handle_error_from_rpc, start_grpc_server
from idnode.resolver.grpc.server import stop_grpc_server
from idnode.resolver.http.server import RUNNER_ARGS, build_app
from idnode.settings import Settings

HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("0af7651916cd43dd8448eb211c80319c", True),
        ("trace:1.2_3", True),
        (b"from-bytes", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("", False),
        (None, False),
        ("naïve", False),
        ("a\r\nInjected: 1", False),
    ],
)
def test_accept(given, kept):
    got = requestid.accept(given)
    if kept:
        assert got == (given.decode() if isinstance(given, bytes) else given)
    else:
        assert HEX32.fullmatch(got)


def test_new_ids_differ():
    assert len({requestid.new_id() for _ in range(100)}) == 100


def test_ensure_and_metadata_keep_one_id_per_context():
    def body():
        assert requestid.current() is None
        made = requestid.ensure()
        assert requestid.ensure() == made == requestid.current()
        assert requestid.metadata((("x-idnode-hops", "1"),)) == (("x-idnode-hops", "1"), ("x-request-id", made))

    contextvars.copy_context().run(body)
    assert requestid.current() is None  # nothing leaked out of that context


@contextlib.contextmanager
def kept_records(logger: logging.Logger) -> Iterator[list[logging.LogRecord]]:
    """The records ``logger`` emits in the block, through :class:`requestid.RequestIdFilter`."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    handler.addFilter(requestid.RequestIdFilter())
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def test_log_records_carry_the_id():
    logger = logging.getLogger("test.requestid")
    logger.propagate = False
    with kept_records(logger) as records:
        logger.warning("outside")

        def inside():
            requestid.set_current("req-7")
            logger.warning("inside")

        contextvars.copy_context().run(inside)
    assert [(r.request_id, r.request_tag) for r in records] == [(None, ""), ("req-7", " [request_id=req-7]")]
    entries = [json.loads(JsonFormatter().format(r)) for r in records]
    assert "request_id" not in entries[0] and entries[1]["request_id"] == "req-7"


def _trailer(metadata) -> str | None:
    return dict(metadata or ()).get("x-request-id")


async def test_grpc_returns_the_id_in_trailers_errors_included(seeded):
    server, port = await start_grpc_server(seeded.registry, "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = resolver_pb2_grpc.ResolverStub(channel)
    try:
        call = stub.Resolve(
            resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023"), metadata=(("x-request-id", "g-1"),)
        )
        assert (await call).response_code == 1
        assert _trailer(await call.trailing_metadata()) == "g-1"

        call = stub.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023"))
        await call
        assert HEX32.fullmatch(_trailer(await call.trailing_metadata()))

        call = stub.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/NOPE"), metadata=(("x-request-id", "g-2"),))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert _trailer(info.value.trailing_metadata()) == "g-2"
        assert handle_error_from_rpc(info.value).code == 100  # the Handle detail is still there

        stream = stub.ResolveStream(metadata=(("x-request-id", "g-3"),))
        await stream.write(resolver_pb2.BatchResolveRequest(handles=["88.118.8/JXDY2106023"]))
        assert (await stream.read()).results[0].response_code == 1
        await stream.done_writing()
        assert await stream.read() == grpc.aio.EOF
        assert _trailer(await stream.trailing_metadata()) == "g-3"
    finally:
        await channel.close()
        await stop_grpc_server(server, 0)


async def test_http_returns_the_id_on_every_answer(seeded, tmp_path):
    server = TestServer(build_app(seeded.registry, Settings(data_dir=tmp_path)))
    await server.start_server(**RUNNER_ARGS)
    async with TestClient(server) as client:
        reply = await client.get("/healthz", headers={"X-Request-Id": "h-1"})
        assert reply.headers["X-Request-Id"] == "h-1"
        reply = await client.get("/healthz", headers={"X-Request-Id": "bad id"})
        assert HEX32.fullmatch(reply.headers["X-Request-Id"])
        reply = await client.get("/api/handles/88.118.8/NOPE", headers={"X-Request-Id": "h-2"})
        assert reply.status == 404 and reply.headers["X-Request-Id"] == "h-2"
        reply = await client.get("/88.118.8/JXDY2106023", headers={"X-Request-Id": "h-3"}, allow_redirects=False)
        assert reply.status == 302 and reply.headers["X-Request-Id"] == "h-3"
        reply = await client.post("/healthz", headers={"X-Request-Id": "h-4"})
        assert reply.status == 405 and reply.headers["X-Request-Id"] == "h-4"


async def test_the_writer_thread_runs_a_write_in_its_submitter_context(registry):
    """A failing write logs from the writer thread under the request's id (the op itself sees it too)."""
    seen = []

    def op(ctx):
        seen.append(requestid.current())
        raise ValueError("broken op")

    with kept_records(logging.getLogger("idnode.registry.writer")) as records:
        token = requestid.set_current("write-9")
        try:
            with pytest.raises(Exception, match="write failed: ValueError"):
                await asyncio.wrap_future(registry.writer.submit(op))
        finally:
            requestid._current.reset(token)
    assert seen == ["write-9"]
    assert [(r.getMessage(), r.request_id) for r in records] == [("write operation failed", "write-9")]
