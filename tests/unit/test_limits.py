"""Per-client rate limits: the token buckets (sans-IO) and each front end's answer over the limit
(gRPC RESOURCE_EXHAUSTED, HTTP 429 + Retry-After, DNS REFUSED) on real loopback servers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dns.asyncquery
import dns.message
import dns.rcode
import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer

from idnode.proto import (
    registry_pb2,
    registry_pb2_grpc,
    replication_pb2,
    replication_pb2_grpc,
    resolver_pb2,
    resolver_pb2_grpc,
)
from idnode.resolver import admission, limits
from idnode.resolver.dns.answer import DnsResponder, ZoneConfig
from idnode.resolver.dns.server import DnsServer
from idnode.resolver.grpc import handle_error_from_rpc, start_grpc_server
from idnode.resolver.http.server import RUNNER_ARGS, build_app
from idnode.settings import ConfigError, Settings, load_settings

HANDLE = "88.118.8/JXDY2106023"


@contextlib.contextmanager
def configured(*args: object, **kwargs: object) -> Iterator[None]:
    """This process's limits set by ``limits.configure(*args, **kwargs)`` for the block, all off afterwards."""
    limits.configure(*args, **kwargs)  # type: ignore[arg-type]
    try:
        yield
    finally:
        limits.configure((0.0, 0.0), (0.0, 0.0))


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("off", (0.0, 0.0)),
        ("0", (0.0, 0.0)),
        ("", (0.0, 0.0)),
        ("100", (100.0, 200.0)),
        ("0.2", (0.2, 1.0)),  # the burst is at least one request
        ("100/5", (100.0, 5.0)),
        (" 7.5 / 10 ", (7.5, 10.0)),
        (50, (50.0, 100.0)),
        ((3, 4), (3.0, 4.0)),
    ],
)
def test_parse_rate(text, parsed):
    assert limits.parse_rate(text) == parsed
    assert limits.parse_rate(parsed) == parsed  # typed settings go through the converter again


@pytest.mark.parametrize("bad", ["fast", "-1", "10/0.5", "1/2/3", "inf", True, None])
def test_parse_rate_rejects(bad):
    with pytest.raises(ValueError, match="RATE|rate|burst"):
        limits.parse_rate(bad)


def test_settings_flag_env_and_default():
    assert Settings().rate_limit_resolve == (1000.0, 2000.0)
    assert Settings().rate_limit_write == (100.0, 200.0)
    assert Settings().max_streams_per_client == 16
    loaded = load_settings({"rate_limit_resolve": "off"}, env={"IDNODE_RATE_LIMIT_WRITE": "5/10"})
    assert (loaded.rate_limit_resolve, loaded.rate_limit_write) == ((0.0, 0.0), (5.0, 10.0))
    with pytest.raises(ConfigError, match="rate_limit_write from IDNODE_RATE_LIMIT_WRITE"):
        load_settings(env={"IDNODE_RATE_LIMIT_WRITE": "lots"})


def test_bucket_burst_then_refill():
    limiter = limits.RateLimiter(rate=2.0, burst=3.0)
    assert [limiter.check("a", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("a", 100.0) == pytest.approx(0.5)  # one token needs 1/rate seconds
    assert limiter.check("b", 100.0) == 0.0  # another client has its own bucket
    assert limiter.check("a", 100.25) == pytest.approx(0.25)  # half a token back; a refusal takes nothing
    assert limiter.check("a", 100.5) == 0.0
    assert limiter.check("a", 100.5) > 0
    assert [limiter.check("a", 200.0) for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # refilled to the burst only


def test_bucket_table_is_bounded():
    limiter = limits.RateLimiter(rate=1.0, burst=2.0, max_clients=100)
    for n in range(1000):  # busy clients, none idle: the oldest half goes each time the table is full
        limiter.check(n, 0.0)
        assert limiter.clients <= 100
    assert limiter.clients == 100
    limiter.check("busy", 1000.0)  # the table is full of clients idle for 1000 s: they go, nothing else
    assert limiter.clients == 1
    assert limiter.check("busy", 1000.0) == 0.0
    assert limiter.check("busy", 1000.0) > 0  # its bucket was kept: the burst of 2 is spent


def test_client_key_and_peer_ip():
    assert limits.peer_ip("ipv4:127.0.0.1:5000") == "127.0.0.1"
    assert limits.peer_ip("ipv6:[::1]:5000") == "::1"
    assert limits.peer_ip("unix:/tmp/x.sock") == "unix:/tmp/x.sock"
    assert limits.client_key("Bearer idn1.0123456789abcdef.secret", "10.0.0.1") == "token:0123456789abcdef"
    assert limits.client_key("Basic abc", "10.0.0.1") == "10.0.0.1"
    assert limits.client_key(None, "10.0.0.1") == "10.0.0.1"


@pytest.fixture
def limited():
    """This process's limiters set to 2 requests per client (no refill to speak of), reset afterwards."""
    with configured((0.001, 2.0), (0.001, 2.0)):
        yield


async def test_grpc_resolves_and_registry_calls_limited(seeded, limited):
    server, port = await start_grpc_server(seeded.registry, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = resolver_pb2_grpc.ResolverStub(channel)
            for _ in range(2):
                assert (await stub.Resolve(resolver_pb2.ResolveRequest(handle=HANDLE))).response_code == 1
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.BatchResolve(resolver_pb2.BatchResolveRequest(handles=[HANDLE]))
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            error = handle_error_from_rpc(caught.value)
            assert error.code == 3 and "rate limit" in error.message

            registry = registry_pb2_grpc.RegistryStub(channel)
            for _ in range(2):  # anonymous calls: answered (UNAUTHENTICATED), each takes a write token
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await registry.DeleteIdentifier(registry_pb2.IdentifierDelete(handle=HANDLE))
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await registry.DeleteIdentifier(registry_pb2.IdentifierDelete(handle=HANDLE))
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert seeded.registry.lookup("88.118.8", "JXDY2106023") is not None  # the refused delete changed nothing
    finally:
        await server.stop(None)


async def test_http_answers_429_with_retry_after(seeded, limited, tmp_path):
    server = TestServer(build_app(seeded.registry, Settings(data_dir=tmp_path)))
    await server.start_server(**RUNNER_ARGS)
    async with TestClient(server) as client:
        for _ in range(2):
            assert (await client.get(f"/api/handles/{HANDLE}")).status == 200
        refused = await client.get(f"/api/handles/{HANDLE}")
        assert refused.status == 429
        assert int(refused.headers["Retry-After"]) >= 1
        body = await refused.json()
        assert body["responseCode"] == 3 and "rate limit" in body["message"]
        assert (await client.get("/healthz")).status == 200  # health checks are never limited
        for _ in range(2):  # writes have their own bucket: two answered (401: no credential), then 429
            assert (await client.delete(f"/api/handles/{HANDLE}")).status == 401
        assert (await client.delete(f"/api/handles/{HANDLE}")).status == 429


@pytest.mark.parametrize("over", ["udp", "tcp"])
async def test_dns_answers_refused(seeded, limited, over):
    server = DnsServer(DnsResponder(seeded.registry, ZoneConfig(zone="id.local.")))
    await server.start("127.0.0.1", 0)
    ask = dns.asyncquery.tcp if over == "tcp" else dns.asyncquery.udp
    try:
        rcodes = []
        for _ in range(3):
            query = dns.message.make_query("_h.88.118.8.id.local.", "NAPTR")
            reply = await ask(query, "127.0.0.1", port=server.port, timeout=5)
            assert reply.id == query.id and reply.question == query.question
            rcodes.append(reply.rcode())
        assert rcodes[2] == dns.rcode.REFUSED
        assert dns.rcode.REFUSED not in rcodes[:2]
    finally:
        await server.stop()


@pytest.fixture
def not_ready():
    """This process's replica admission flag set (as a replica that never reached its primary), reset afterwards."""
    admission.set_refusal("this read replica has not reached its primary yet: its data may be partial")
    try:
        yield
    finally:
        admission.set_refusal(None)


async def test_replica_not_ready_refuses_resolves_on_every_front_end(seeded, not_ready, tmp_path):
    server, port = await start_grpc_server(seeded.registry, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await resolver_pb2_grpc.ResolverStub(channel).Resolve(resolver_pb2.ResolveRequest(handle=HANDLE))
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "has not reached its primary" in caught.value.details()
    finally:
        await server.stop(None)

    settings = Settings(data_dir=tmp_path, replica_of="127.0.0.1:1")
    http = TestServer(build_app(seeded.registry, settings))
    await http.start_server(**RUNNER_ARGS)
    async with TestClient(http) as client:
        refused = await client.get(f"/api/handles/{HANDLE}")
        assert refused.status == 503 and (await refused.json())["responseCode"] == 3
        assert (await client.get("/healthz")).status == 200
        admission.set_refusal(None)  # reached: served again, without a restart
        assert (await client.get(f"/api/handles/{HANDLE}")).status == 200

    admission.set_refusal("bootstrapping")
    dns_server = DnsServer(DnsResponder(seeded.registry, ZoneConfig(zone="id.local.")), replica=True)
    await dns_server.start("127.0.0.1", 0)
    try:
        query = dns.message.make_query("_h.88.118.8.id.local.", "NAPTR")
        for ask in (dns.asyncquery.udp, dns.asyncquery.tcp):
            assert (await ask(query, "127.0.0.1", port=dns_server.port, timeout=5)).rcode() == dns.rcode.SERVFAIL
        admission.set_refusal(None)
        reply = await dns.asyncquery.udp(query, "127.0.0.1", port=dns_server.port, timeout=5)
        assert reply.rcode() != dns.rcode.SERVFAIL
    finally:
        await dns_server.stop()


@pytest.fixture
async def one_stream_each(seeded):
    """A gRPC server (its port) over ``seeded`` in a process allowing one stream per client."""
    with configured((0.0, 0.0), (0.0, 0.0), max_streams=1):
        server, port = await start_grpc_server(seeded.registry, "127.0.0.1:0")
        try:
            yield port
        finally:
            await server.stop(None)


async def test_concurrent_streams_per_client_capped(counting, one_stream_each):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{one_stream_each}") as channel:
        stub = resolver_pb2_grpc.ResolverStub(channel)
        request = resolver_pb2.BatchResolveRequest(handles=[HANDLE])
        first = stub.ResolveStream()
        await first.write(request)
        assert (await first.read()).results[0].response_code == 1  # open, and served
        second = stub.ResolveStream()
        await second.write(request)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await second.read()
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "concurrent streams" in caught.value.details()
        # The refusal counts as a ResolveStream request with code 3; the open stream's message with 1.
        assert counting.requests == {("grpc", "ResolveStream", "1"): 1, ("grpc", "ResolveStream", "3"): 1}
        await first.done_writing()
        assert await first.read() == grpc.aio.EOF
        third = stub.ResolveStream()  # the first one closed: room again
        await third.write(request)
        assert (await third.read()).results[0].response_code == 1
        await third.done_writing()
        assert await third.read() == grpc.aio.EOF
    assert limits._STREAMS == {}  # every slot given back


def test_exemptions_match_addresses_and_networks():
    exempt = limits.Exemptions(["10.0.0.0/8", "192.0.2.53", "fd00::/8"], max_cached=4)
    for address in ("10.1.2.3", "192.0.2.53", "fd00::1", "::ffff:10.9.9.9", "fd00::1%eth0"):
        assert address in exempt, address
        assert address in exempt, address  # the cached answer is the same
    for address in ("11.0.0.1", "192.0.2.54", "::1", "unix:/tmp/x.sock", "", "token:0123"):
        assert address not in exempt, address
    assert len(exempt._cache) <= 4  # the per-address cache is bounded


def test_exempt_setting_from_flag_env_and_toml(tmp_path):
    assert Settings().rate_limit_resolve_exempt == ()
    assert load_settings({"rate_limit_resolve_exempt": "10.0.0.1/8, 192.0.2.53"}).rate_limit_resolve_exempt == (
        "10.0.0.0/8",
        "192.0.2.53/32",
    )
    env = {"IDNODE_RATE_LIMIT_RESOLVE_EXEMPT": "::1"}
    assert load_settings(env=env).rate_limit_resolve_exempt == ("::1/128",)
    config = tmp_path / "idnode.toml"
    config.write_text('rate-limit-resolve-exempt = ["fd00::/8", "127.0.0.2"]\n')
    assert load_settings(config_path=config, env={}).rate_limit_resolve_exempt == ("fd00::/8", "127.0.0.2/32")
    with pytest.raises(ConfigError, match="rate_limit_resolve_exempt from --rate-limit-resolve-exempt: 'resolver1'"):
        load_settings({"rate_limit_resolve_exempt": "10.0.0.0/8,resolver1"})


@pytest.fixture
def limited_but_exempt():
    """Limits of 2 requests per client, resolves from 127.0.0.2 and 127.0.0.1 exempt (writes are not)."""
    with configured((0.001, 2.0), (0.001, 2.0), exempt=["127.0.0.2", "127.0.0.1/32"]):
        yield


async def test_exempt_addresses_resolve_unlimited_on_grpc_and_http(seeded, limited_but_exempt, tmp_path):
    server, port = await start_grpc_server(seeded.registry, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = resolver_pb2_grpc.ResolverStub(channel)
            for _ in range(5):
                assert (await stub.Resolve(resolver_pb2.ResolveRequest(handle=HANDLE))).response_code == 1
    finally:
        await server.stop(None)
    http = TestServer(build_app(seeded.registry, Settings(data_dir=tmp_path)))
    await http.start_server(**RUNNER_ARGS)
    async with TestClient(http) as client:
        for _ in range(5):
            assert (await client.get(f"/api/handles/{HANDLE}")).status == 200
        statuses = [(await client.delete(f"/api/handles/{HANDLE}")).status for _ in range(3)]
        assert statuses == [401, 401, 429]  # writes are never exempt


async def test_dns_exempt_address_unlimited_other_limited(seeded):
    limits.configure((0.001, 2.0), (0.0, 0.0), exempt=["127.0.0.2"])
    server = DnsServer(DnsResponder(seeded.registry, ZoneConfig(zone="id.local.")))
    await server.start("127.0.0.1", 0)
    try:
        query = dns.message.make_query("_h.88.118.8.id.local.", "NAPTR")

        async def rcodes(source: str) -> list[int]:
            ask = dns.asyncquery.udp
            return [
                (await ask(query, "127.0.0.1", port=server.port, timeout=5, source=source)).rcode() for _ in range(5)
            ]

        assert dns.rcode.REFUSED not in await rcodes("127.0.0.2")  # exempt: never limited
        other = await rcodes("127.0.0.1")
        assert dns.rcode.REFUSED not in other[:2] and other[2:] == [dns.rcode.REFUSED] * 3  # the burst of 2
    finally:
        limits.configure((0.0, 0.0), (0.0, 0.0))
        await server.stop()


async def test_follow_over_the_stream_cap_is_refused_and_counted(seeded, counting, one_stream_each):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{one_stream_each}") as channel:
        stub = replication_pb2_grpc.ReplicationStub(channel)
        admin = (("authorization", f"Bearer {seeded.tokens['admin']}"),)
        request = replication_pb2.FollowRequest(from_sequence=1)
        first = stub.Follow(request, metadata=admin)
        assert (await first.read()).entries  # open, and following
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Follow(request, metadata=admin).read()
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        first.cancel()
    assert counting.requests == {("grpc", "Follow", "3"): 1}  # the refusal; the open Follow is not a request
