"""Signed values during recursive resolution (resolver/recursion.py) on real loopback gRPC servers: the
owner's HS_SIGNATURE is checked once per cache fill and the verdict travels in ResolveResponse.signature."""

from __future__ import annotations

from test_recursion import PRODUCT, hierarchy  # noqa: F401  (the fixture: top node, node A, recursors)

from idnode.proto import resolver_pb2
from idnode.registry import signing
from idnode.registry.model import IdentifierUpdate, IdentifierWrite
from idnode.registry.values import Reference, Value

S = resolver_pb2.SignatureStatus
KEYS = "88.118.8/KEYS"


async def sign(seeded, handle: str, key, ref: Reference) -> None:
    """Sign ``handle`` as its owner: the public values as an anonymous reader sees them."""
    owner = seeded.principals["owner"]
    values = seeded.registry.get_record(seeded.principals["anonymous"], handle).values
    signature = signing.sign_values(handle, values, key, ref, now=2_000_000_000 - 10**6)
    await seeded.registry.update(owner, IdentifierUpdate(handle, "add", (signature,)))


async def resolve(recursor, handle: str = PRODUCT, indexes=(), types=()) -> resolver_pb2.ResolveResponse:
    return resolver_pb2.ResolveResponse.FromString(await recursor.resolve("88.118.8", handle, indexes, types))


async def test_unsigned_valid_and_changed(hierarchy):  # noqa: F811
    seeded = hierarchy["seeded"]
    owner = seeded.principals["owner"]
    recursor = hierarchy["recursor"](wall=lambda: 2_000_000_000.0)

    reply = await resolve(recursor)
    assert (reply.signature, reply.non_authoritative) == (S.SIGNATURE_STATUS_UNSIGNED, True)
    assert reply.signature_message == f"{PRODUCT} carries no HS_SIGNATURE"

    key = signing.generate_key()
    await seeded.registry.create(owner, IdentifierWrite(KEYS, (signing.pubkey_value(key),)))
    await sign(seeded, PRODUCT, key, Reference(KEYS, signing.PUBKEY_INDEX))
    hierarchy["clock"].now += 86400 * 2  # the cached unsigned answer expires
    reply = await resolve(recursor)
    assert reply.signature == S.SIGNATURE_STATUS_VALID, reply.signature_message
    assert f"signed by 300:{KEYS} (EdDSA)" in reply.signature_message
    calls = recursor.stats["owner_calls"]
    assert (await resolve(recursor)).signature == S.SIGNATURE_STATUS_VALID  # from the cache, verdict included
    assert recursor.stats["owner_calls"] == calls

    # A filtered answer is checked against the whole record's signature.
    filtered = await resolve(recursor, indexes=(2,))
    assert [v.index for v in filtered.values] == [2]
    assert filtered.signature == S.SIGNATURE_STATUS_VALID, filtered.signature_message

    # Changed at the owner without re-signing: reported, with the index.
    value = next(v for v in seeded.product if v.index == 1)
    changed = Value(1, value.type, b"https://evil.example/", ttl=value.ttl)
    await seeded.registry.update(owner, IdentifierUpdate(PRODUCT, "modify", (changed,)))
    fresh = hierarchy["recursor"](wall=lambda: 2_000_000_000.0)
    reply = await resolve(fresh)
    assert reply.signature == S.SIGNATURE_STATUS_CHANGED
    assert "value 1 (" in reply.signature_message and "differs from the signed digest" in reply.signature_message
    assert (await resolve(fresh, indexes=(1,))).signature == S.SIGNATURE_STATUS_CHANGED
    assert (await resolve(fresh, indexes=(2,))).signature == S.SIGNATURE_STATUS_VALID  # value 2 is as signed


async def test_unknown_key_and_expired(hierarchy):  # noqa: F811
    seeded = hierarchy["seeded"]
    key = signing.generate_key("ES256")
    await sign(seeded, PRODUCT, key, Reference(KEYS, signing.PUBKEY_INDEX))  # KEYS does not exist
    reply = await resolve(hierarchy["recursor"](wall=lambda: 2_000_000_000.0))
    assert reply.signature == S.SIGNATURE_STATUS_UNKNOWN_KEY and f"300:{KEYS}" in reply.signature_message

    owner = seeded.principals["owner"]
    await seeded.registry.create(owner, IdentifierWrite(KEYS, (signing.pubkey_value(key),)))
    reply = await resolve(hierarchy["recursor"](wall=lambda: 2_000_000_000.0))
    assert reply.signature == S.SIGNATURE_STATUS_VALID, reply.signature_message
    signature = signing.sign_values(
        PRODUCT,
        [Value.from_pb(v) for v in reply.values if v.type != "HS_SIGNATURE"],
        key,
        Reference(KEYS, 300),
        now=2_000_000_000 - 100,
        lifetime=50,
    )
    await seeded.registry.update(owner, IdentifierUpdate(PRODUCT, "modify", (signature,)))
    reply = await resolve(hierarchy["recursor"](wall=lambda: 2_000_000_000.0))
    assert reply.signature == S.SIGNATURE_STATUS_EXPIRED, reply.signature_message


async def test_a_cached_valid_answer_does_not_outlive_the_signature(hierarchy):  # noqa: F811
    seeded = hierarchy["seeded"]
    owner = seeded.principals["owner"]
    clock = hierarchy["clock"]
    wall = 2_000_000_000.0
    recursor = hierarchy["recursor"](wall=lambda: wall + (clock.now - 1000.0))  # wall time moves with the clock
    key = signing.generate_key()
    await seeded.registry.create(owner, IdentifierWrite(KEYS, (signing.pubkey_value(key),)))
    values = seeded.registry.get_record(seeded.principals["anonymous"], PRODUCT).values
    signature = signing.sign_values(PRODUCT, values, key, Reference(KEYS, 300), now=int(wall) - 10, lifetime=110)
    await seeded.registry.update(owner, IdentifierUpdate(PRODUCT, "add", (signature,)))

    assert (await resolve(recursor)).signature == S.SIGNATURE_STATUS_VALID  # the values' TTL is far longer
    clock.now += 99
    calls = recursor.stats["owner_calls"]
    assert (await resolve(recursor)).signature == S.SIGNATURE_STATUS_VALID
    assert recursor.stats["owner_calls"] == calls  # still cached
    clock.now += 2  # past exp: the cached answer is gone, the fresh check says expired
    reply = await resolve(recursor)
    assert reply.signature == S.SIGNATURE_STATUS_EXPIRED, reply.signature_message
    assert recursor.stats["owner_calls"] > calls
