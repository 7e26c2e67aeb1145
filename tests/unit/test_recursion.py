"""Recursive resolution (resolver/recursion.py) on real loopback gRPC servers: the
reference top-level node's servicer, node A (a real registry serving 88.118,
seeded) and node B (88.200, with a recursor) — site and answer caches by TTL,
negative caching, the hop limit, an unreachable owner, --no-recursion and the
self-loop guard."""

from __future__ import annotations

import grpc
import pytest

from idnode.proto import resolver_pb2, resolver_pb2_grpc, toplevel_pb2
from idnode.registry import errors
from idnode.registry.service import Registry
from idnode.registry.store import Store
from idnode.registry.writer import Writer
from idnode.resolver.grpc import handle_error_from_rpc, start_grpc_server
from idnode.resolver.recursion import HOPS_METADATA, Recursor

topnode = pytest.importorskip("idnode.sync.topnode.server")
from idnode.sync.topnode import TopLevel, TopStore  # noqa: E402

TOP_ADMIN = "top-admin-secret"
NODE_SECRET = "node-secret"
PRODUCT = "88.118.8/JXDY2106023"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def hierarchy(seeded, tmp_path):
    """Top node (88.118 registered, 88.118.8 approved), node A serving the seeded registry."""
    store = TopStore(tmp_path / "top")
    core = TopLevel(store, TOP_ADMIN)
    top_server, top_port = await topnode.start_topnode_server(core, "127.0.0.1:0")
    a_server, a_port = await start_grpc_server(seeded.registry, "127.0.0.1:0")
    site = toplevel_pb2.Site(protocol=toplevel_pb2.SITE_PROTOCOL_GRPC, host="127.0.0.1", port=a_port)
    core.register_node(NODE_SECRET, toplevel_pb2.RegisterNodeRequest(node_prefix="88.118", sites=[site], node_id="a"))
    core.request_prefix(
        NODE_SECRET, toplevel_pb2.RequestPrefixRequest(node_prefix="88.118", prefix="88.118.8", credit_code="C1")
    )
    core.approve_prefix(TOP_ADMIN, toplevel_pb2.PrefixDecision(prefix="88.118.8"))
    made = []

    def recursor(**options) -> Recursor:
        options.setdefault("clock", clock)
        r = Recursor(f"127.0.0.1:{top_port}", options.pop("node_prefix", "88.200"), **options)
        made.append(r)
        return r

    clock = Clock()
    servers = {"top": top_server, "a": a_server}
    try:
        yield {
            "seeded": seeded,
            "recursor": recursor,
            "clock": clock,
            "a_port": a_port,
            "top_port": top_port,
            "servers": servers,
        }
    finally:
        for r in made:
            await r.close()
        for server in servers.values():
            await server.stop(None)
        store.close()


async def test_resolves_at_the_owner_non_authoritative_and_caches_by_ttl(hierarchy):
    recursor = hierarchy["recursor"]()
    clock = hierarchy["clock"]
    reply = resolver_pb2.ResolveResponse.FromString(await recursor.resolve("88.118.8", PRODUCT))
    assert (reply.response_code, reply.handle, reply.non_authoritative) == (1, PRODUCT, True)
    assert [v.index for v in reply.values] == [1, 2, 3]  # public values only, as A answers anonymous readers
    assert recursor.stats["top_calls"] == 1 and recursor.stats["owner_calls"] == 1

    again = await recursor.resolve("88.118.8", PRODUCT)
    assert resolver_pb2.ResolveResponse.FromString(again) == reply
    assert recursor.stats["owner_calls"] == 1 and recursor.stats["answer_hits"] == 1

    # Filters are part of the cache key.
    filtered = resolver_pb2.ResolveResponse.FromString(await recursor.resolve("88.118.8", PRODUCT, (2,)))
    assert [v.index for v in filtered.values] == [2]
    assert recursor.stats["owner_calls"] == 2 and recursor.stats["top_calls"] == 1  # the site came from cache

    ttl = min(v.ttl if v.HasField("ttl") else 86400 for v in reply.values)
    clock.now += ttl - 1
    await recursor.resolve("88.118.8", PRODUCT)
    assert recursor.stats["owner_calls"] == 2
    clock.now += 2  # the answer expired
    await recursor.resolve("88.118.8", PRODUCT)
    assert recursor.stats["owner_calls"] == 3


async def test_site_cache_follows_the_hs_site_ttl_and_the_default(hierarchy):
    recursor = hierarchy["recursor"](site_ttl=10)
    clock = hierarchy["clock"]
    site = await recursor.site("88.118.8")
    assert (site.code, site.node_prefix, site.targets) == (1, "88.118", (f"127.0.0.1:{hierarchy['a_port']}",))
    await recursor.site("88.118.8")
    assert recursor.stats["top_calls"] == 1
    clock.now += 86400 - 1  # the top node's HS_SITE values carry TTL 86400, not the default 10 s
    await recursor.site("88.118.8")
    assert recursor.stats["top_calls"] == 1
    clock.now += 2
    await recursor.site("88.118.8")
    assert recursor.stats["top_calls"] == 2


async def test_unknown_prefix_is_100_and_cached_negatively(hierarchy):
    recursor = hierarchy["recursor"](negative_ttl=60)
    clock = hierarchy["clock"]
    for _ in range(2):
        with pytest.raises(errors.HandleNotFound) as caught:
            await recursor.resolve("99.1", "99.1/X")
        assert caught.value.code == 100 and caught.value.handle == "99.1/X"
    assert recursor.stats["top_calls"] == 1
    clock.now += 61
    with pytest.raises(errors.HandleNotFound):
        await recursor.resolve("99.1", "99.1/X")
    assert recursor.stats["top_calls"] == 2


async def test_owner_not_found_passes_on_and_is_cached_negatively(hierarchy):
    recursor = hierarchy["recursor"]()
    for _ in range(2):
        with pytest.raises(errors.HandleNotFound) as caught:
            await recursor.resolve("88.118.8", "88.118.8/NOPE")
        assert caught.value.handle == "88.118.8/NOPE"
    assert recursor.stats["owner_calls"] == 1
    with pytest.raises(errors.HandleNotFound):  # a tombstone answers 100 too
        await recursor.resolve("88.118.8", "88.118.8/GONE")


async def test_hop_limit_is_code_6(hierarchy):
    recursor = hierarchy["recursor"](hop_limit=4)
    await recursor.resolve("88.118.8", PRODUCT, hops=3)
    with pytest.raises(errors.RecursionTooDeep) as caught:
        await recursor.resolve("88.118.8", PRODUCT, hops=4)
    assert caught.value.code == 6


async def test_unreachable_owner_is_301_naming_the_site(hierarchy):
    recursor = hierarchy["recursor"](timeout=2.0)
    await hierarchy["servers"].pop("a").stop(None)
    with pytest.raises(errors.ServerNotResponsible) as caught:
        await recursor.resolve("88.118.8", PRODUCT)
    assert caught.value.code == 301
    assert f"grpc://127.0.0.1:{hierarchy['a_port']}" in caught.value.message
    assert caught.value.handle == PRODUCT


async def test_unreachable_top_node_is_301_and_cached_answers_still_serve(hierarchy):
    recursor = hierarchy["recursor"](timeout=2.0)
    await recursor.resolve("88.118.8", PRODUCT)
    await hierarchy["servers"].pop("top").stop(None)
    await recursor.resolve("88.118.8", PRODUCT)  # the answer cache
    await recursor.resolve("88.118.8", PRODUCT, (1,))  # the site cache, then the owner
    with pytest.raises(errors.ServerNotResponsible) as caught:
        await recursor.resolve("88.118.9", "88.118.9/X")
    assert f"127.0.0.1:{hierarchy['top_port']}" in caught.value.message


async def test_no_recursion_is_a_303_referral_carrying_the_site(hierarchy):
    recursor = hierarchy["recursor"](recursion=False)
    with pytest.raises(errors.PrefixReferral) as caught:
        await recursor.resolve("88.118.8", PRODUCT)
    site = f"grpc://127.0.0.1:{hierarchy['a_port']}"
    assert caught.value.code == 303 and caught.value.site == site and site in caught.value.message
    assert recursor.stats["owner_calls"] == 0


async def test_never_resolves_at_itself(hierarchy):
    a = f"127.0.0.1:{hierarchy['a_port']}"
    by_address = hierarchy["recursor"](own_sites=[a])
    with pytest.raises(errors.ServerNotResponsible) as caught:
        await by_address.resolve("88.118.8", PRODUCT)
    assert "this node" in caught.value.message and by_address.stats["owner_calls"] == 0

    by_prefix = hierarchy["recursor"](node_prefix="88.118")
    with pytest.raises(errors.ServerNotResponsible):
        await by_prefix.resolve("88.118.8", PRODUCT)  # approved for this node, which does not serve it
    with pytest.raises(errors.HandleNotFound):
        await by_prefix.resolve("88.118.77", "88.118.77/X")  # only covered by this node (303): not allocated
    assert by_prefix.stats["owner_calls"] == 0


@pytest.fixture
async def node_b(hierarchy, tmp_path):
    """Node B (88.200): a real registry with a recursor, serving gRPC."""
    store = Store(tmp_path / "b", map_size=1 << 20)
    writer = Writer(store)
    registry = Registry(store, writer, "88.200")
    writer.start()
    registry.recursor = hierarchy["recursor"](clock=lambda: 0.0)
    server, port = await start_grpc_server(registry, "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield registry, resolver_pb2_grpc.ResolverStub(channel)
    finally:
        await channel.close()
        await server.stop(None)
        writer.stop()
        store.close()


async def test_grpc_resolve_batch_and_stream_through_node_b(hierarchy, node_b):
    _registry, stub = node_b
    reply = await stub.Resolve(resolver_pb2.ResolveRequest(handle=PRODUCT))
    assert (reply.response_code, reply.non_authoritative) == (1, True)
    assert [v.index for v in reply.values] == [1, 2, 3]

    batch = await stub.BatchResolve(resolver_pb2.BatchResolveRequest(handles=[PRODUCT, "88.118.8/NOPE", "99.1/X"]))
    assert [(r.response_code, r.non_authoritative) for r in batch.results] == [(1, True), (100, False), (100, False)]

    async def requests():
        yield resolver_pb2.BatchResolveRequest(handles=[PRODUCT], indexes=[2])

    (streamed,) = [m async for m in stub.ResolveStream(requests())]
    assert [v.index for v in streamed.results[0].values] == [2] and streamed.results[0].non_authoritative

    with pytest.raises(grpc.RpcError) as caught:
        await stub.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/X"), metadata=((HOPS_METADATA, "4"),))
    assert handle_error_from_rpc(caught.value).code == 6


async def test_local_answers_stay_authoritative(hierarchy):
    seeded = hierarchy["seeded"]
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{hierarchy['a_port']}")
    try:
        reply = await resolver_pb2_grpc.ResolverStub(channel).Resolve(resolver_pb2.ResolveRequest(handle=PRODUCT))
    finally:
        await channel.close()
    assert reply.response_code == 1 and not reply.non_authoritative
    assert getattr(seeded.registry, "recursor", None) is None


async def test_dns_responder_recurses_off_the_datagram_path(hierarchy, node_b):
    import dns.flags
    import dns.message
    import dns.rcode

    from idnode.resolver.dns import names
    from idnode.resolver.dns.answer import DnsResponder, Pending, ZoneConfig

    registry, _ = node_b
    responder = DnsResponder(registry, ZoneConfig(zone="id.local."))
    wire = dns.message.make_query(names.handle_to_name(PRODUCT, "id.local."), "TXT").to_wire()
    pending = responder.respond(wire)
    assert isinstance(pending, Pending) and pending.handle == PRODUCT
    first = dns.message.from_wire(await responder.respond_recursive(pending))
    assert first.rcode() == dns.rcode.NOERROR and not first.flags & dns.flags.AA
    assert len(first.answer[0]) == 3  # the public values of A
    second = responder.respond(wire)  # from the answer cache, synchronously
    assert isinstance(second, bytes) and dns.message.from_wire(second).answer == first.answer

    unknown = dns.message.make_query(names.handle_to_name("99.1/X", "id.local."), "TXT").to_wire()
    answer = dns.message.from_wire(await responder.respond_recursive(responder.respond(unknown)))
    assert answer.rcode() == dns.rcode.NXDOMAIN and not answer.flags & dns.flags.AA

    registry.recursor.recursion = False
    refused = dns.message.from_wire(responder.respond(wire))
    assert refused.rcode() == dns.rcode.REFUSED
