"""Readiness (idnode/health.py) and its two front ends: gRPC health and GET /readyz, on real LMDB and real servers."""

from __future__ import annotations

import asyncio
import socket

import grpc
from aiohttp.test_utils import TestClient, TestServer
from grpc_health.v1 import health_pb2, health_pb2_grpc

from idnode.health import Health, health_of, store_check, unix_socket_check
from idnode.registry.store import Store
from idnode.resolver.grpc import start_grpc_server
from idnode.resolver.grpc.server import stop_grpc_server
from idnode.resolver.http.server import RUNNER_ARGS, build_app
from idnode.settings import Settings


def test_no_checks_is_ready():
    health = Health()
    assert health.problems() == []
    assert health.report() == {"status": "ready", "checks": [], "problems": []}


def test_problems_name_their_check_and_draining_comes_first():
    health = Health()
    health.add_check("ok", lambda: None)
    health.add_check("lag", lambda: "replication lag 12 s above 5 s")
    health.add_check("broken", lambda: 1 / 0)
    health.draining = True
    assert health.problems() == [
        "draining: the node is shutting down",
        "lag: replication lag 12 s above 5 s",
        "broken: check failed: ZeroDivisionError: division by zero",
    ]
    assert health.report()["status"] == "not ready"
    assert health.report()["checks"] == ["ok", "lag", "broken"]
    health.remove_check("lag")
    health.remove_check("broken")
    health.draining = False
    assert health.problems() == []


def test_store_check_on_real_lmdb(tmp_path):
    store = Store(tmp_path / "data", map_size=1 << 20, max_readers=1)
    try:
        check = store_check(store)
        assert check() is None
        held = store.begin()  # the only reader slot: the check cannot open its read transaction
        problem = check()
        held.abort()
        del held  # py-lmdb frees the reader slot with the transaction object
        assert problem is not None and "ReadersFullError" in problem
        assert check() is None
    finally:
        store.close()
    assert check() == "the LMDB environment is closed"


def test_store_check_of_an_uninitialised_environment(tmp_path):
    store = Store(tmp_path / "data", map_size=1 << 20)
    with store.env.begin(write=True) as txn:
        txn.delete(b"schema_version", db=store.dbs["meta"])
    try:
        assert store_check(store)() == "the data folder has no schema version (not initialised)"
    finally:
        store.close()


def test_unix_socket_check(tmp_path):
    path = str(tmp_path / "w.sock")
    check = unix_socket_check("the writer process", path)
    assert check() == f"the writer process not reachable at {path}: ENOENT"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(path)  # bound, not listening: refused
        assert check() == f"the writer process not reachable at {path}: ECONNREFUSED"
        bound.listen(1)
        assert check() is None
        other = str(tmp_path / "other.sock")
        assert unix_socket_check("x", path, other)() == f"x not reachable at {other}: ENOENT"


def test_health_of_gives_a_registry_the_store_check(registry):
    health = health_of(registry)
    assert health.names == ("store",) and health.problems() == []
    assert health_of(registry) is health


async def test_grpc_health_follows_the_checks(registry, monkeypatch):
    monkeypatch.setattr("idnode.resolver.grpc.server.INTERVAL", 0.05)
    server, port = await start_grpc_server(registry, "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)

    async def statuses() -> set[int]:
        replies = [
            await stub.Check(health_pb2.HealthCheckRequest(service=s))
            for s in ("", "idnode.v1.Resolver", "idnode.v1.Registry")
        ]
        return {r.status for r in replies}

    async def wait_for(status: int) -> None:
        for _ in range(100):
            if await statuses() == {status}:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"health never became {status}: {await statuses()}")

    try:
        await wait_for(health_pb2.HealthCheckResponse.SERVING)
        health_of(registry).add_check("test", lambda: "made unready by the test")
        await wait_for(health_pb2.HealthCheckResponse.NOT_SERVING)
        health_of(registry).remove_check("test")
        await wait_for(health_pb2.HealthCheckResponse.SERVING)
        registry.store.env.close()  # the store itself becomes unreadable
        await wait_for(health_pb2.HealthCheckResponse.NOT_SERVING)
    finally:
        await channel.close()
        await stop_grpc_server(server, 0)


async def test_readyz(registry, tmp_path):
    server = TestServer(build_app(registry, Settings(data_dir=tmp_path)))
    await server.start_server(**RUNNER_ARGS)
    async with TestClient(server) as client:
        reply = await client.get("/readyz")
        assert reply.status == 200
        assert await reply.json() == {"status": "ready", "checks": ["store"], "problems": []}
        health_of(registry).add_check("writer", unix_socket_check("the writer process", str(tmp_path / "none.sock")))
        reply = await client.get("/readyz")
        assert reply.status == 503
        body = await reply.json()
        assert body["status"] == "not ready"
        assert body["problems"] == [f"writer: the writer process not reachable at {tmp_path / 'none.sock'}: ENOENT"]
        reply = await client.post("/readyz")
        assert reply.status == 405  # never taken for a handle by the resolver pages' catch-all
        assert (await client.get("/healthz")).status == 200  # alive, even when not ready


def test_bench_times_the_checks_on_a_real_folder(registry, registry_factory):
    from idnode.loadtest import _bench_health

    data = registry.store.path
    registry_factory.close_all()  # py-lmdb opens an environment once per process
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as writer:
        writer.bind(str(data / "writer.sock"))
        writer.listen(64)
        figures = _bench_health.compare(data, 20)
    assert figures["problems"] == [] and figures["writer_sockets"] == 1
    assert all(figures[k] > 0 for k in ("lmdb_get_us", "store_check_us", "writer_check_us", "readiness_us"))
    assert figures["readiness_vs_lmdb_get"] == figures["readiness_us"] / figures["lmdb_get_us"]
