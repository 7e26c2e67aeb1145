"""The HTTP edge (resolver/http): status mapping, Authorization parsing, limits, on a real aiohttp server."""

from __future__ import annotations

import base64

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


async def test_a_forwarding_worker_passes_writes_to_the_writer(registry, tmp_path):
    writer_app = build_app(registry, Settings(data_dir=tmp_path))
    seen = []

    async def record(request):
        seen.append((request.method, request.path_qs, request.headers.get("Authorization"), await request.read()))
        return aiohttp.web.json_response({"responseCode": 1}, status=201)

    writer_app.router.add_put("/api/echo", record)
    path = str(tmp_path / "w.sock")
    runner = aiohttp.web.AppRunner(writer_app)
    await runner.setup()
    await aiohttp.web.UnixSite(runner, path).start()
    try:
        worker_app = build_app(registry, Settings(data_dir=tmp_path), forward_to=path)
        async with TestClient(TestServer(worker_app)) as client:
            reply = await client.put("/api/echo?x=1", data=b'{"a":1}', headers={"Authorization": "Bearer t"})
            assert reply.status == 201 and await reply.json() == {"responseCode": 1}
            assert seen == [("PUT", "/api/echo?x=1", "Bearer t", b'{"a":1}')]
            assert (await client.get("/api/echo")).status in (404, 405)  # reads stay in the worker
    finally:
        await runner.cleanup()
    async with TestClient(TestServer(build_app(registry, Settings(data_dir=tmp_path), forward_to=path))) as client:
        reply = await client.put("/api/echo", data=b"{}")  # the writer is gone
        assert reply.status == 503 and (await reply.json())["responseCode"] == 3
