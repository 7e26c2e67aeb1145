"""The real grpc.aio server on 127.0.0.1:0 over a real registry (real LMDB in a
temporary folder), seeded through the facade (the ``seeded`` fixture, conftest.py)."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from idnode import _fastpath
from idnode.proto import (
    common_pb2,
    registry_pb2,
    registry_pb2_grpc,
    resolver_pb2,
    resolver_pb2_grpc,
)
from idnode.registry import errors
from idnode.resolver.grpc import handle_error_from_rpc, start_grpc_server


def pbs(values, indexes):
    return [v.to_pb() for v in values if v.index in indexes]


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
async def node(seeded):
    server, port = await start_grpc_server(seeded.registry, "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield seeded, channel, port
    finally:
        await channel.close()
        await server.stop(None)


def handle_error(err: grpc.RpcError) -> common_pb2.HandleError:
    status = rpc_status.from_call(err)
    assert status is not None and status.code == err.code().value[0]
    (detail,) = status.details
    he = common_pb2.HandleError()
    assert detail.Unpack(he)
    return he


async def test_resolve(node):
    seeded, channel, _ = node
    stub = resolver_pb2_grpc.ResolverStub(channel)
    reply = await stub.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023"))
    assert (reply.response_code, reply.handle) == (1, "88.118.8/JXDY2106023")
    assert list(reply.values) == pbs(seeded.product, {1, 2, 3})

    reply = await stub.Resolve(
        resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023", types=["contact."]),
        metadata=auth(seeded.tokens["owner"]),
    )
    assert list(reply.values) == pbs(seeded.product, {3, 4})


@pytest.mark.parametrize(
    ("reader", "expected"),
    [("stranger", {1, 2, 3}), ("admin", {1, 2, 3, 4, 100}), ("auditor", {1, 2, 3, 4, 100})],
)
async def test_resolve_with_other_readers_tokens(node, reader, expected):
    seeded, channel, _ = node
    stub = resolver_pb2_grpc.ResolverStub(channel)
    reply = await stub.Resolve(
        resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023"), metadata=auth(seeded.tokens[reader])
    )
    assert list(reply.values) == pbs(seeded.product, expected)


@pytest.mark.parametrize(
    ("handle", "code", "response_code", "message"),
    [
        ("88.118.8/NOPE", grpc.StatusCode.NOT_FOUND, 100, "handle 88.118.8/NOPE not found"),
        ("88.118.8/GONE", grpc.StatusCode.NOT_FOUND, 100, "handle 88.118.8/GONE was deleted"),
        ("88.118.8/电机-1", grpc.StatusCode.NOT_FOUND, 100, "handle 88.118.8/电机-1 not found"),
        (
            "nonsense",
            grpc.StatusCode.INVALID_ARGUMENT,
            102,
            "invalid handle 'nonsense': no '/' between prefix and suffix",
        ),
        ("86.1/X", grpc.StatusCode.FAILED_PRECONDITION, 301, None),
        (
            "88.118.8/BROKEN",
            grpc.StatusCode.INTERNAL,
            2,
            "stored record of handle 88.118.8/BROKEN cannot be read",
        ),
    ],
)
async def test_resolve_failures_carry_the_handle_error(node, handle, code, response_code, message):
    seeded, channel, _ = node
    seeded.put_raw("88.118.8/BROKEN", b"garbage")  # a stored record that cannot be decoded
    stub = resolver_pb2_grpc.ResolverStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Resolve(resolver_pb2.ResolveRequest(handle=handle))
    err = info.value
    assert err.code() == code
    he = handle_error(err)
    assert he.response_code == response_code
    if message:
        assert he.message == message == err.details()
    typed = handle_error_from_rpc(err)
    assert isinstance(typed, errors.HandleError) and typed.code == response_code


async def test_resolve_with_values_filter_not_found(node):
    _, channel, _ = node
    stub = resolver_pb2_grpc.ResolverStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023", indexes=[42]))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert handle_error(info.value).response_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong",
        "Basic dXNlcjpwdw==",
        "Bearer",
        "Bearer idn1.0000000000000000.unknown",
        "owner's token with a wrong secret",
    ],
)
async def test_bad_credentials_are_unauthenticated(node, authorization):
    seeded, channel, _ = node
    if authorization == "owner's token with a wrong secret":
        authorization = "Bearer " + seeded.tokens["owner"] + "x"
    stub = resolver_pb2_grpc.ResolverStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Resolve(
            resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023"),
            metadata=(("authorization", authorization),),
        )
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert handle_error(info.value).response_code == 403


async def test_revoked_token_is_unauthenticated(node):
    seeded, channel, _ = node
    token = seeded.tokens["owner"]
    assert await seeded.registry.revoke_token(seeded.owner, seeded.owner.token_id)
    stub = resolver_pb2_grpc.ResolverStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023"), metadata=auth(token))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    he = handle_error(info.value)
    assert (he.response_code, he.message) == (403, f"credential {seeded.owner.token_id} was revoked")


@pytest.mark.parametrize("method", ["Resolve", "BatchResolve"])
async def test_malformed_request_bytes(node, method):
    _, channel, _ = node
    call = channel.unary_unary(f"/idnode.v1.Resolver/{method}")  # no serializers: raw bytes
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(b"\x0a\x10abc")  # a handle field longer than the message
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    he = handle_error(info.value)
    assert he.response_code == 4
    assert he.message.startswith("malformed ")


async def test_batch_resolve(node):
    seeded, channel, _ = node
    stub = resolver_pb2_grpc.ResolverStub(channel)
    reply = await stub.BatchResolve(
        resolver_pb2.BatchResolveRequest(handles=["88.118.8/JXDY2106023", "88.118.8/NOPE", "bad"], indexes=[1])
    )
    assert [(r.response_code, r.handle) for r in reply.results] == [
        (1, "88.118.8/JXDY2106023"),
        (100, "88.118.8/NOPE"),
        (102, "bad"),
    ]
    assert list(reply.results[0].values) == pbs(seeded.product, {1})


async def test_batch_resolve_limit(node):
    _, channel, _ = node
    stub = resolver_pb2_grpc.ResolverStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.BatchResolve(resolver_pb2.BatchResolveRequest(handles=["88.118.8/A"] * 1001))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    he = handle_error(info.value)
    assert (he.response_code, he.message) == (202, "at most 1000 handles per batch, got 1001")


async def test_resolve_stream_answers_each_batch_in_order(node):
    _, channel, _ = node
    stub = resolver_pb2_grpc.ResolverStub(channel)
    batches = [
        ["88.118.8/JXDY2106023"],
        ["88.118.8/NOPE", "88.118.8/SECRET"],
        [],
        ["88.118.8/GONE"] * 3,
    ]

    async def requests():
        for handles in batches:
            yield resolver_pb2.BatchResolveRequest(handles=handles)

    replies = [reply async for reply in stub.ResolveStream(requests())]
    assert [[r.handle for r in reply.results] for reply in replies] == batches
    codes = [[r.response_code for r in reply.results] for reply in replies]
    assert codes == [[1], [100, 1], [], [100] * 3]


async def test_resolve_stream_interleaved(node):
    _, channel, _ = node
    stub = resolver_pb2_grpc.ResolverStub(channel)
    call = stub.ResolveStream()
    for n in range(3):
        await call.write(resolver_pb2.BatchResolveRequest(handles=[f"88.118.8/N{n}"]))
        reply = await call.read()
        assert reply.results[0].handle == f"88.118.8/N{n}"
    await call.done_writing()
    assert await call.read() == grpc.aio.EOF


async def test_resolve_stream_malformed_message_ends_the_stream(node):
    _, channel, _ = node
    call = channel.stream_stream("/idnode.v1.Resolver/ResolveStream")()
    await call.write(resolver_pb2.BatchResolveRequest(handles=["88.118.8/NOPE"]).SerializeToString())
    reply = resolver_pb2.BatchResolveResponse.FromString(await call.read())
    assert reply.results[0].response_code == 100
    await call.write(b"\x0a\x10abc")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_health_serving(node):
    _, channel, _ = node
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "idnode.v1.Resolver", "idnode.v1.Registry"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_services(node):
    _, channel, _ = node
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask():
        yield reflection_pb2.ServerReflectionRequest(list_services="")
        yield reflection_pb2.ServerReflectionRequest(file_containing_symbol="idnode.v1.Resolver")

    replies = [r async for r in stub.ServerReflectionInfo(ask())]
    names = {s.name for s in replies[0].list_services_response.service}
    assert names == {
        "idnode.v1.Resolver",
        "idnode.v1.Registry",
        "idnode.v1.Replication",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert replies[1].file_descriptor_response.file_descriptor_proto


async def test_registry_service_whoami_and_auth(node):
    seeded, channel, _ = node
    stub = registry_pb2_grpc.RegistryStub(channel)
    owner = seeded.owner
    who = await stub.WhoAmI(registry_pb2.WhoAmIRequest(), metadata=auth(seeded.tokens["owner"]))
    assert (who.role, who.credit_code, who.token_id, list(who.prefixes)) == (
        "enterprise",
        owner.credit_code,
        owner.token_id,
        ["88.118.8"],
    )
    assert who.actor == f"enterprise/{owner.token_id}@{owner.credit_code}"
    # Anonymous callers are told to authenticate (402), by WhoAmI as by every Registry call.
    for call in (stub.WhoAmI(registry_pb2.WhoAmIRequest()), stub.GetStats(registry_pb2.StatsRequest())):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert handle_error(info.value).response_code == 402
    # A credential the registry rejects: 403.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.WhoAmI(registry_pb2.WhoAmIRequest(), metadata=auth("idn1.0000000000000000.unknown"))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert handle_error(info.value).response_code == 403


async def test_registry_service_batch_create_reports_undecodable_items_in_place(node):
    seeded, channel, _ = node
    registry = seeded.registry
    stub = registry_pb2_grpc.RegistryStub(channel)
    good = common_pb2.HandleValue(index=1, type="URL", data=b"https://example.com")
    bad = common_pb2.HandleValue(index=0, type="URL", data=b"x")  # index 0 is invalid
    reply = await stub.BatchCreate(
        registry_pb2.BatchCreateRequest(
            items=[
                registry_pb2.IdentifierWrite(handle="88.118.8/A", values=[good]),
                registry_pb2.IdentifierWrite(handle="88.118.8/B", values=[good, bad]),
            ]
        ),
        metadata=auth(seeded.tokens["owner"]),
    )
    assert [(r.handle, r.response_code, r.created) for r in reply.results] == [
        ("88.118.8/A", 1, True),
        ("88.118.8/B", 202, False),
    ]
    assert reply.results[0].sequence > 0 and reply.results[1].sequence == 0
    assert "value index" in reply.results[1].message
    # A was decoded (an absent ttl takes Handle's default) and written; B was not written.
    (value,) = registry.get_record(seeded.owner, "88.118.8/A").values
    assert (value.index, value.type, value.data, value.ttl) == (1, "URL", b"https://example.com", 86400)
    assert registry.lookup("88.118.8", "B") is None


async def test_registry_service_stats(node):
    seeded, channel, _ = node
    stub = registry_pb2_grpc.RegistryStub(channel)
    # An enterprise sees its own prefixes: 88.118.8 holds JXDY2106023 and SECRET, and GONE's tombstone.
    stats = await stub.GetStats(registry_pb2.StatsRequest(), metadata=auth(seeded.tokens["owner"]))
    assert (stats.node_prefix, stats.identifiers, stats.tombstones, stats.changelog_sequence) == (
        "88.118",
        2,
        1,
        seeded.registry.writer.sequence,
    )
    assert (stats.enterprises, stats.prefixes) == (1, 1)
    assert [(p.prefix, p.identifiers, p.registrations, p.deletions) for p in stats.per_prefix] == [
        ("88.118.8", 2, 3, 1)
    ]
    assert stats.map_size == 1 << 20 and 0 < stats.map_used <= stats.map_size
    assert stats.fastpath == _fastpath.IMPLEMENTATION
    assert stats.version
    # The node admin sees the whole node.
    stats = await stub.GetStats(registry_pb2.StatsRequest(), metadata=auth(seeded.tokens["admin"]))
    assert (stats.identifiers, stats.enterprises, stats.prefixes) == (2, 2, 2)


async def test_registry_service_unexpected_failure_is_internal(node):
    seeded, channel, _ = node
    # An enterprise row that is not JSON: listing enterprises fails with a
    # non-Handle exception, which must leave as INTERNAL without detail.
    seeded.registry.writer.run(lambda ctx: ctx.put("enterprises", b"corrupt", b"garbage"))
    stub = registry_pb2_grpc.RegistryStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListEnterprises(registry_pb2.ListEnterprisesRequest(), metadata=auth(seeded.tokens["owner"]))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details() == "internal server error"
    assert handle_error(info.value).response_code == 2


async def test_bind_failure_names_the_address(node):
    seeded, _, port = node
    with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
        await start_grpc_server(seeded.registry, f"127.0.0.1:{port}")
