"""Server-side request timeouts and size limits on real loopback servers: a gRPC call or HTTP request
held past --request-timeout ends DEADLINE_EXCEEDED / 503 (code 3) and its queued write is dropped;
a trickled HTTP body gets 408, trickled headers a closed connection; an idle ResolveStream ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading

import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from idnode.proto import registry_pb2, registry_pb2_grpc, resolver_pb2, resolver_pb2_grpc
from idnode.resolver import timeouts
from idnode.resolver.grpc import handle_error_from_rpc, start_grpc_server
from idnode.resolver.http.server import build_app, runner_args
from idnode.settings import ConfigError, Settings, load_settings

HANDLE = "88.118.8/JXDY2106023"


@contextlib.contextmanager
def writer_held(registry, seconds: float = 5.0):
    """The registry's writer busy with a job that waits (at most ``seconds``) until the block ends;
    a write submitted meanwhile is queued behind it."""
    started, release = threading.Event(), threading.Event()

    def hold(ctx):
        started.set()
        release.wait(seconds)

    blocker = registry.writer.submit(hold)
    assert started.wait(5)
    try:
        yield
    finally:
        release.set()
        blocker.result(10)


def test_settings_defaults_minimums_and_sources():
    settings = Settings()
    assert (settings.max_message_bytes, settings.max_body_bytes, settings.max_url_bytes) == (64 << 20, 8 << 20, 8192)
    assert (settings.request_timeout, settings.stream_idle_timeout) == (30.0, 300.0)
    loaded = load_settings(
        {"max_body_bytes": "2MiB", "request_timeout": "off"},
        env={"IDNODE_MAX_MESSAGE_BYTES": "16MiB", "IDNODE_STREAM_IDLE_TIMEOUT": "2m", "IDNODE_MAX_URL_BYTES": "4KiB"},
    )
    assert (loaded.max_body_bytes, loaded.max_message_bytes, loaded.max_url_bytes) == (2 << 20, 16 << 20, 4096)
    assert (loaded.request_timeout, loaded.stream_idle_timeout) == (0.0, 120.0)
    with pytest.raises(ConfigError, match=r"max_message_bytes from --max-message-bytes: .*2000 items must fit"):
        load_settings({"max_message_bytes": "512KiB"})
    with pytest.raises(ConfigError, match=r"max_body_bytes from IDNODE_MAX_BODY_BYTES: .*2000 items must fit"):
        load_settings(env={"IDNODE_MAX_BODY_BYTES": "1000"})
    with pytest.raises(ConfigError, match=r"max_url_bytes .*255-character handle"):
        load_settings({"max_url_bytes": "1KiB"})
    with pytest.raises(ConfigError, match="request_timeout from --request-timeout"):
        load_settings({"request_timeout": "soon"})


async def test_grpc_unary_call_past_the_deadline_ends_and_its_queued_write_is_dropped(seeded):
    server, port = await start_grpc_server(seeded.registry, "127.0.0.1:0", request_timeout=0.3)
    before = seeded.registry.store.last_sequence()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = registry_pb2_grpc.RegistryStub(channel)
            owner = (("authorization", f"Bearer {seeded.tokens['owner']}"),)
            with writer_held(seeded.registry), pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.DeleteIdentifier(registry_pb2.IdentifierDelete(handle=HANDLE), metadata=owner)
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            error = handle_error_from_rpc(caught.value)
            assert error.code == 3 and error.message == "DeleteIdentifier took longer than 0.3 s (--request-timeout)"
            # The writer is free again: the delete it was never given is not done, later calls are served.
            who = await stub.WhoAmI(registry_pb2.WhoAmIRequest(), metadata=owner)
            assert who.role == "enterprise"
            reply = await resolver_pb2_grpc.ResolverStub(channel).Resolve(resolver_pb2.ResolveRequest(handle=HANDLE))
            assert reply.response_code == 1
        await asyncio.to_thread(seeded.registry.writer.run, lambda ctx: None)  # the queue has been worked through
        assert seeded.registry.lookup("88.118.8", "JXDY2106023") is not None
        assert seeded.registry.store.last_sequence() == before  # no change-log entry either
    finally:
        await server.stop(None)


async def test_grpc_client_stream_idle_past_the_limit_ends(seeded):
    server, port = await start_grpc_server(seeded.registry, "127.0.0.1:0", stream_idle_timeout=0.3)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stream = resolver_pb2_grpc.ResolverStub(channel).ResolveStream()
            await stream.write(resolver_pb2.BatchResolveRequest(handles=[HANDLE]))
            assert (await stream.read()).results[0].response_code == 1  # served while it talks
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await asyncio.wait_for(stream.read(), 10)  # then silent: ended by the server, not by this bound
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "no message from the client for 0.3 s (--stream-idle-timeout)" in caught.value.details()
            assert handle_error_from_rpc(caught.value).code == 3
    finally:
        await server.stop(None)


async def test_grpc_message_over_max_message_bytes_is_resource_exhausted(seeded):
    server, port = await start_grpc_server(seeded.registry, "127.0.0.1:0", max_message_bytes=1 << 20)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = resolver_pb2_grpc.ResolverStub(channel)
            fits = resolver_pb2.BatchResolveRequest(handles=[HANDLE], types=["x" * 1000] * 900)
            assert (await stub.BatchResolve(fits)).results[0].response_code == 200  # no value of such types
            over = resolver_pb2.BatchResolveRequest(handles=[HANDLE], types=["x" * 1000] * 1100)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.BatchResolve(over)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert f"vs. {1 << 20}" in caught.value.details()  # gRPC's own text names the limit
    finally:
        await server.stop(None)


@pytest.fixture
async def http_server(seeded, tmp_path):
    """The node's HTTP app with a 0.5 s request timeout and small size limits, on a real loopback
    server with the node's runner arguments (the keep-alive timeout among them)."""
    settings = Settings(data_dir=tmp_path, request_timeout=0.5, max_body_bytes="1MiB", max_url_bytes="4KiB")
    server = TestServer(build_app(seeded.registry, settings))
    await server.start_server(**runner_args(settings))
    try:
        yield server
    finally:
        await server.close()


async def exchange(port: int, head: bytes, trickle: bytes, every: float = 0.05) -> tuple[bytes, int]:
    """Send ``head``, then ``trickle`` one byte every ``every`` seconds until the server closes the
    connection (or the bytes run out); return everything the server sent and how many bytes trickled."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = asyncio.ensure_future(reader.read())  # all the server sends, until it closes
    sent = 0
    try:
        writer.write(head)
        for byte in trickle:
            if answer.done():
                break
            try:
                writer.write(bytes((byte,)))
                await writer.drain()
            except ConnectionError:
                break
            sent += 1
            await asyncio.wait([answer], timeout=every)
        return await asyncio.wait_for(answer, 10), sent
    finally:
        answer.cancel()
        writer.close()


async def test_http_trickled_body_gets_408_and_the_connection_closes(http_server, seeded):
    head = (
        f"PUT /api/handles/{HANDLE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {seeded.tokens['owner']}\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    answer, sent = await exchange(http_server.port, head, b"[" + b" " * 400)  # 400 bytes: 20 s at this pace
    assert sent < 400  # cut off long before the trickle ended (the body could never have completed)
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", answer
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["responseCode"] == 3 and "did not arrive within 0.5 s (--request-timeout)" in body["message"]
    assert seeded.registry.get_record(seeded.owner, HANDLE).values == seeded.product  # nothing written


async def test_http_trickled_headers_are_cut_off(http_server):
    answer, sent = await exchange(http_server.port, b"GET /healthz HTTP/1.1\r\n", b"X-Slow: " + b"a" * 400)
    assert answer == b"" and sent < 400  # closed by the server (the head never completed), long before the end


async def test_http_request_held_past_the_deadline_gets_503_and_its_write_is_dropped(http_server, seeded):
    before = seeded.registry.store.last_sequence()
    async with TestClient(http_server) as client:
        owner = {"Authorization": f"Bearer {seeded.tokens['owner']}"}
        with writer_held(seeded.registry):
            reply = await client.delete(f"/api/handles/{HANDLE}", headers=owner)
            assert reply.status == 503 and reply.headers["Retry-After"] == "1"
            body = await reply.json()
            assert body["responseCode"] == 3 and "longer than 0.5 s (--request-timeout)" in body["message"]
            assert (await client.get(f"/api/handles/{HANDLE}")).status == 200  # reads go on meanwhile
        await asyncio.to_thread(seeded.registry.writer.run, lambda ctx: None)
        assert (await client.get(f"/api/handles/{HANDLE}")).status == 200  # the delete was never done
    assert seeded.registry.store.last_sequence() == before


async def test_http_size_limits_name_their_setting(http_server, seeded):
    owner = {"Authorization": f"Bearer {seeded.tokens['owner']}", "Content-Type": "application/json"}
    async with TestClient(http_server) as client:
        reply = await client.get("/" + "x" * 4096)
        assert reply.status == 414 and "(--max-url-bytes)" in (await reply.json())["message"]
        assert (
            await client.get("/88.118.8/NOPE?pad=" + "x" * 3900)
        ).status == 404  # under the limit: an unknown handle
        reply = await client.put(f"/api/handles/{HANDLE}", data=b"[" + b" " * (1 << 20) + b"]", headers=owner)
        assert reply.status == 413
        body = await reply.json()
        assert body["responseCode"] == 4 and f"over {1 << 20} bytes (--max-body-bytes)" in body["message"]
    assert seeded.registry.get_record(seeded.owner, HANDLE).values == seeded.product


async def test_deadline_tells_its_own_expiry_from_a_cancellation():
    seen = []

    async def waits():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append(timeouts.expired())
            raise

    with pytest.raises(TimeoutError):
        async with timeouts.deadline(0.05):
            await waits()
    task = asyncio.ensure_future(waits())
    await asyncio.sleep(0.01)
    task.cancel()  # a cancellation from outside (a client gone) is not the deadline's
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [True, False]
    assert not timeouts.expired()


async def test_http_streamed_answer_is_not_cut_once_started(seeded, tmp_path):
    settings = Settings(data_dir=tmp_path, request_timeout=0.3)
    app = build_app(seeded.registry, settings)

    async def slow_stream(request):
        response = web.StreamResponse()
        await response.prepare(request)  # the answer has started: the deadline ends here
        for n in range(3):
            await asyncio.sleep(0.2)
            await response.write(b"%d\n" % n)
        await response.write_eof()
        return response

    async def slow(request):
        await asyncio.sleep(5)
        return web.Response(text="late")

    app.router.add_get("/test/stream", slow_stream)
    app.router.add_get("/test/slow", slow)
    server = TestServer(app)
    await server.start_server(**runner_args(settings))
    async with TestClient(server) as client:
        reply = await client.get("/test/stream")
        assert reply.status == 200 and await reply.read() == b"0\n1\n2\n"  # 0.6 s in all, past the 0.3 s
        reply = await client.get("/test/slow")  # an answer that had not started is cut
        assert reply.status == 503 and (await reply.json())["responseCode"] == 3
