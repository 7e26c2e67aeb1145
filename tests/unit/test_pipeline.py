"""Unit tests of the read pipeline over a real registry (real LMDB in a temporary
folder), seeded through the registry facade (the ``seeded`` fixture, conftest.py)."""

from __future__ import annotations

import pytest

from idnode.proto import resolver_pb2
from idnode.registry.auth import ANONYMOUS
from idnode.registry.errors import (
    HandleDeleted,
    HandleNotFound,
    InvalidHandle,
    InvalidValue,
    ServerError,
    ServerNotResponsible,
    ValuesNotFound,
)
from idnode.registry.model import IdentifierWrite
from idnode.resolver import pipeline
from idnode.resolver.pipeline import Query, resolve, resolve_many

PRODUCT = "88.118.8/JXDY2106023"
ALL_PRODUCT_INDEXES = {1, 2, 3, 4, 100}
PUBLIC_PRODUCT_INDEXES = {1, 2, 3}


def pbs(values, indexes):
    return [v.to_pb() for v in values if v.index in indexes]


def answer(seeded, handle, *, indexes=(), types=(), principal=ANONYMOUS):
    reply = resolve(Query(handle, indexes, types, principal), seeded.registry)
    return resolver_pb2.ResolveResponse.FromString(reply)


def spy_private_checks(registry, monkeypatch):
    """Record each ``can_read_private`` call; the real method still answers."""
    calls = []
    real = registry.can_read_private

    def can_read_private(principal, prefix):
        calls.append((principal, prefix))
        return real(principal, prefix)

    monkeypatch.setattr(registry, "can_read_private", can_read_private)
    return calls


def test_stages_are_declared_in_order():
    names = [s.__name__ for s in pipeline.STAGES]
    assert names == ["normalise", "local_store", "referral", "render"]


def test_anonymous_sees_public_values_only_without_asking_the_registry(seeded, monkeypatch):
    checks = spy_private_checks(seeded.registry, monkeypatch)
    msg = answer(seeded, PRODUCT)
    assert msg.response_code == 1
    assert msg.handle == PRODUCT
    assert list(msg.values) == pbs(seeded.product, PUBLIC_PRODUCT_INDEXES)
    assert msg.message == ""
    assert checks == []


def test_owner_sees_every_value(seeded, monkeypatch):
    checks = spy_private_checks(seeded.registry, monkeypatch)
    msg = answer(seeded, PRODUCT, principal=seeded.owner)
    assert list(msg.values) == pbs(seeded.product, ALL_PRODUCT_INDEXES)
    assert checks == [(seeded.owner, "88.118.8")]


@pytest.mark.parametrize(
    ("reader", "expected"),
    [
        ("anonymous", PUBLIC_PRODUCT_INDEXES),
        ("stranger", PUBLIC_PRODUCT_INDEXES),  # another enterprise: public values only
        ("owner", ALL_PRODUCT_INDEXES),
        ("admin", ALL_PRODUCT_INDEXES),
        ("auditor", ALL_PRODUCT_INDEXES),
    ],
)
def test_who_sees_private_values(seeded, reader, expected):
    msg = answer(seeded, PRODUCT, principal=seeded.principals[reader])
    assert list(msg.values) == pbs(seeded.product, expected)


async def test_prefix_is_normalised(seeded):
    registry = seeded.registry
    await registry.allocate_prefix(seeded.principals["admin"], seeded.owner.credit_code, "88.118.ABC")
    await registry.create(seeded.owner, IdentifierWrite("88.118.abc/Mixed/Case", seeded.product[:1]))
    msg = answer(seeded, "88.118.ABC/Mixed/Case")
    assert msg.handle == "88.118.abc/Mixed/Case"
    assert [v.data for v in msg.values] == [seeded.product[0].data]
    with pytest.raises(HandleNotFound):  # the suffix keeps its case
        answer(seeded, "88.118.abc/mixed/case")


@pytest.mark.parametrize(
    ("indexes", "types", "reader", "expected"),
    [
        ((2,), (), "anonymous", {2}),
        ((1, 3), (), "anonymous", {1, 3}),
        ((), ("URL",), "anonymous", {1}),
        ((), ("contact.",), "anonymous", {3}),  # "A." matches A.x subtypes
        ((), ("contact.",), "owner", {3, 4}),
        ((), ("URL", "HS_ADMIN"), "owner", {1, 100}),
        ((1, 2), ("productName",), "anonymous", {2}),  # both filters apply
        ((4,), (), "anonymous", set()),  # matches a private value: empty success
        ((), ("HS_ADMIN",), "anonymous", set()),
    ],
)
def test_index_and_type_filters(seeded, indexes, types, reader, expected):
    msg = answer(seeded, PRODUCT, indexes=indexes, types=types, principal=seeded.principals[reader])
    assert msg.response_code == 1
    assert list(msg.values) == pbs(seeded.product, expected)


@pytest.mark.parametrize(
    ("indexes", "types", "message"),
    [
        ((99,), (), "index 99"),
        ((), ("EMAIL",), "type EMAIL"),
        ((1,), ("EMAIL",), "index 1 and type EMAIL"),
        ((), ("contact",), "type contact"),  # no trailing dot: the exact type only
    ],
)
@pytest.mark.parametrize("reader", ["anonymous", "owner"])
def test_values_not_found(seeded, indexes, types, message, reader):
    with pytest.raises(ValuesNotFound) as info:
        resolve(Query(PRODUCT, indexes, types, seeded.principals[reader]), seeded.registry)
    assert info.value.code == 200
    assert info.value.message == f"handle {PRODUCT} has no values matching {message}"
    assert info.value.handle == PRODUCT


def test_nothing_visible_is_an_empty_success(seeded):
    msg = answer(seeded, "88.118.8/SECRET")
    assert (msg.response_code, msg.handle, list(msg.values)) == (1, "88.118.8/SECRET", [])
    msg = answer(seeded, "88.118.8/SECRET", principal=seeded.owner)
    assert list(msg.values) == pbs(seeded.secret, {1})


def test_tombstone_is_deleted(seeded):
    with pytest.raises(HandleDeleted) as info:
        resolve(Query("88.118.8/GONE"), seeded.registry)
    assert (info.value.code, info.value.message, info.value.handle) == (
        100,
        "handle 88.118.8/GONE was deleted",
        "88.118.8/GONE",
    )


def test_unknown_handle_is_not_found(seeded):
    with pytest.raises(HandleNotFound) as info:
        resolve(Query("88.118.8/NOPE"), seeded.registry)
    assert not isinstance(info.value, HandleDeleted)
    assert (info.value.code, info.value.message) == (100, "handle 88.118.8/NOPE not found")


@pytest.mark.parametrize("handle", ["88.118.8.1/X", "88.118.77/X", "88.118/X"])
def test_unknown_handle_under_a_served_prefix_is_not_found(seeded, handle):
    # sub-prefix, unallocated prefix, the node prefix itself: all served here
    with pytest.raises(HandleNotFound):
        resolve(Query(handle), seeded.registry)


@pytest.mark.parametrize("handle", ["86.100.1/X", "20.500/x", "88.1180/X"])
def test_foreign_prefix_is_not_this_servers_responsibility(seeded, handle):
    with pytest.raises(ServerNotResponsible) as info:
        resolve(Query(handle), seeded.registry)
    assert info.value.code == 301
    assert handle.split("/")[0] in info.value.message
    assert "recursion via the top-level node is not configured" in info.value.message


@pytest.mark.parametrize("text", ["no-slash", "", "/x", "88.118.8/", "88..8/x", "88.1\x00/x"])
def test_invalid_handle(seeded, text):
    with pytest.raises(InvalidHandle) as info:
        resolve(Query(text), seeded.registry)
    assert info.value.code == 102


@pytest.mark.parametrize("corrupt", ["truncated", "garbage"])
def test_corrupt_record_is_a_server_error(seeded, corrupt):
    raw = seeded.registry.lookup("88.118.8", "JXDY2106023")[:-3] if corrupt == "truncated" else b"garbage"
    seeded.put_raw("88.118.8/BROKEN", raw)
    with pytest.raises(ServerError) as info:
        resolve(Query("88.118.8/BROKEN"), seeded.registry)
    assert info.value.code == 2
    assert info.value.message == "stored record of handle 88.118.8/BROKEN cannot be read"
    assert info.value.handle == "88.118.8/BROKEN"


def test_resolve_many_reports_failures_in_band_in_order(seeded):
    handles = [
        PRODUCT,
        "88.118.8/NOPE",
        "not a handle",
        "88.118.8/GONE",
        "86.100.1/X",
        "88.118.8/SECRET",
    ]
    reply = resolve_many(handles, (), (), ANONYMOUS, seeded.registry)
    results = resolver_pb2.BatchResolveResponse.FromString(reply).results
    assert [(r.response_code, r.handle) for r in results] == [
        (1, PRODUCT),
        (100, "88.118.8/NOPE"),
        (102, "not a handle"),  # as given: it could not be normalised
        (100, "88.118.8/GONE"),
        (301, "86.100.1/X"),
        (1, "88.118.8/SECRET"),
    ]
    assert list(results[0].values) == pbs(seeded.product, PUBLIC_PRODUCT_INDEXES)
    assert results[1].message == "handle 88.118.8/NOPE not found"
    assert results[3].message == "handle 88.118.8/GONE was deleted"
    assert [bool(r.message) for r in results] == [False, True, True, True, True, False]
    assert all(not r.values for r in results[1:])


def test_resolve_many_applies_filters_to_every_handle(seeded):
    handles = [PRODUCT, "88.118.8/SECRET"]
    reply = resolve_many(handles, (2,), (), seeded.owner, seeded.registry)
    results = resolver_pb2.BatchResolveResponse.FromString(reply).results
    assert [r.response_code for r in results] == [1, 200]
    assert list(results[0].values) == pbs(seeded.product, {2})


def test_resolve_many_empty_and_limit(seeded):
    registry = seeded.registry
    assert resolve_many([], (), (), ANONYMOUS, registry) == b""
    handles = [PRODUCT] * pipeline.MAX_BATCH_HANDLES
    results = resolver_pb2.BatchResolveResponse.FromString(resolve_many(handles, (), (), ANONYMOUS, registry)).results
    assert len(results) == 1000
    with pytest.raises(InvalidValue) as info:
        resolve_many(handles + ["x/y"], (), (), ANONYMOUS, registry)
    assert info.value.message == "at most 1000 handles per batch, got 1001"
