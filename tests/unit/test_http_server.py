"""The HTTP edge (resolver/http): status mapping, Authorization parsing, limits, on a real aiohttp server."""

from __future__ import annotations

import base64
import contextlib

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from idnode.registry.errors import AuthenticationFailed
from idnode.resolver.http import errors
from idnode.resolver.http.auth import credential_of
from idnode.resolver.http.server import MAX_URL_BYTES, RUNNER_ARGS, build_app
from idnode.settings import Settings


@pytest.mark.parametrize(
    ("code", "resolving", "status"),
    [(1, False, 200), (2, False, 500), (100, False, 404), (101, False, 409), (102, False, 400), (200, True, 200)]
    + [(200, False, 400), (201, False, 409), (202, False, 400), (301, False, 400), (402, False, 401)]
    + [(400, False, 403), (401, False, 403), (403, False, 403)],
)
def test_status_of_each_response_code(code, resolving, status):  # DOMAIN.md section 4
    assert errors.http_status(code, resolving) == status


async def client_of(app) -> TestClient:
    """A test client of ``app`` on a real loopback server with the node's runner limits."""
    server = TestServer(app)
    await server.start_server(**RUNNER_ARGS)  # TestServer drops runner arguments given to its constructor
    return TestClient(server)


class _Request:
    def __init__(self, header: str | None) -> None:
        self.headers = {} if header is None else {"Authorization": header}


def test_authorization_headers():
    basic = base64.b64encode(b"300%3A88.118.8/ADMIN:s3cret:with:colons").decode()
    assert credential_of(_Request(None)) is None
    assert credential_of(_Request("Bearer idn1.a.b")) == ("bearer", "", "idn1.a.b")
    assert credential_of(_Request(f"Basic {basic}")) == ("basic", "300:88.118.8/ADMIN", "s3cret:with:colons")
    assert credential_of(_Request('Handle sessionId="abc", nonce="x"')) == ("session", "", "abc")
    for bad in ("Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode(), "Digest x=1"):
        with pytest.raises(AuthenticationFailed):
            credential_of(_Request(bad))


async def test_health_and_limits(registry, tmp_path):
    app = build_app(registry, Settings(data_dir=tmp_path))
    async with await client_of(app) as client:
        reply = await client.get("/healthz")
        assert reply.status == 200 and await reply.json() == {"status": "alive"}
        reply = await client.get("/" + "x" * MAX_URL_BYTES)
        assert reply.status == 414 and (await reply.json())["responseCode"] == 4
        reply = await client.get("/healthz", headers={"Authorization": "Digest x"})
        assert reply.status == 200  # /healthz needs no identity
        assert reply.headers["Content-Type"].startswith("application/json")


@contextlib.asynccontextmanager
async def _writer_on(app, path: str):
    """``app`` served on the Unix socket ``path``, as the writer process serves its forwarded requests."""
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    await aiohttp.web.UnixSite(runner, path).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def test_a_forwarding_worker_passes_writes_to_the_writer(registry, tmp_path):
    writer_app = build_app(registry, Settings(data_dir=tmp_path))
    seen = []

    async def record(request):
        seen.append((request.method, request.path_qs, request.headers.get("Authorization"), await request.read()))
        return aiohttp.web.json_response({"responseCode": 1}, status=201)

    writer_app.router.add_put("/api/echo", record)
    path = str(tmp_path / "w.sock")
    async with _writer_on(writer_app, path):
        worker_app = build_app(registry, Settings(data_dir=tmp_path), forward_to=path)
        async with TestClient(TestServer(worker_app)) as client:
            reply = await client.put("/api/echo?x=1", data=b'{"a":1}', headers={"Authorization": "Bearer t"})
            assert reply.status == 201 and await reply.json() == {"responseCode": 1}
            assert seen == [("PUT", "/api/echo?x=1", "Bearer t", b'{"a":1}')]
            assert (await client.get("/api/echo")).status in (404, 405)  # reads stay in the worker
    async with TestClient(TestServer(build_app(registry, Settings(data_dir=tmp_path), forward_to=path))) as client:
        reply = await client.put("/api/echo", data=b"{}")  # the writer is gone
        assert reply.status == 503 and (await reply.json())["responseCode"] == 3


async def test_the_forwarder_passes_console_headers_every_set_cookie_and_streams_chunked_answers(registry, tmp_path):
    """The web console's needs: cookies, CSRF and origin headers in; every Set-Cookie out; a streamed body
    (a bulk upload's progress) reaches the browser piece by piece, not after the writer has finished."""
    import asyncio

    writer_app = build_app(registry, Settings(data_dir=tmp_path))
    seen = {}
    go_on = asyncio.Event()

    async def stream(request):
        names = ("Cookie", "Origin", "Sec-Fetch-Site", "Referer", "X-CSRF-Token", "Host", "X-Not-Forwarded")
        seen.update({k: request.headers.get(k) for k in names})
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain", "Cache-Control": "no-store"})
        response.set_cookie("a", "1", path="/console/", httponly=True)
        response.set_cookie("b", "2", path="/console/", samesite="Strict")
        await response.prepare(request)
        await response.write(b"first\n")
        await asyncio.wait_for(go_on.wait(), 10)  # only after the client has read the first piece
        await response.write(b"second\n")
        await response.write_eof()
        return response

    writer_app.router.add_post("/api/stream-echo", stream)
    path = str(tmp_path / "w.sock")
    async with _writer_on(writer_app, path):
        worker_app = build_app(registry, Settings(data_dir=tmp_path), forward_to=path)
        async with TestClient(TestServer(worker_app)) as client:
            sent = {
                "Cookie": "idnode_session=s; lang=zh",
                "Origin": "http://node.example",
                "Sec-Fetch-Site": "same-origin",
                "Referer": "http://node.example/console/",
                "X-CSRF-Token": "t",
                "X-Not-Forwarded": "x",
            }
            reply = await client.post("/api/stream-echo", data=b"x", headers=sent)
            assert reply.status == 200
            assert await asyncio.wait_for(reply.content.readline(), 10) == b"first\n"
            go_on.set()
            assert await asyncio.wait_for(reply.content.read(), 10) == b"second\n"
            cookies = reply.headers.getall("Set-Cookie")
            assert len(cookies) == 2 and cookies[0].startswith("a=1;") and cookies[1].startswith("b=2;")
            assert reply.headers["Cache-Control"] == "no-store"
            assert seen == {**sent, "X-Not-Forwarded": None, "Host": f"{client.host}:{client.port}"}
