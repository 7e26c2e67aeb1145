"""Unit tests of the read pipeline over an in-memory stand-in for the store."""

from __future__ import annotations

import pytest

from idnode._fastpath import encode_record
from idnode.proto import resolver_pb2
from idnode.registry.auth import ANONYMOUS, Principal
from idnode.registry.errors import (
    AuthenticationFailed,
    HandleDeleted,
    HandleNotFound,
    InvalidHandle,
    InvalidValue,
    ServerError,
    ServerNotResponsible,
    ValuesNotFound,
)
from idnode.registry.values import AdminData, Value
from idnode.resolver import pipeline
from idnode.resolver.pipeline import Query, resolve, resolve_many

OWNER = "91350100M000100Y43"
OWNER_PRINCIPAL = Principal("enterprise", credit_code=OWNER, token_id="tok1")
STRANGER = Principal("enterprise", credit_code="91110000600037341L", token_id="tok2")
GOOD_TOKEN = "idn1.tok1.secret"

PUBLIC = 0b1110
PRIVATE = 0b1100

PRODUCT_VALUES = (
    Value(1, "URL", b"https://example.com/p/JXDY2106023", permissions=PUBLIC),
    Value(2, "productName", "电机".encode(), permissions=PUBLIC),
    Value(3, "contact.email", b"sales@example.com", permissions=PUBLIC),
    Value(4, "contact.phone", b"+86 591 0000000", permissions=PRIVATE),
    Value(100, "HS_ADMIN", AdminData("88.118.8/ADMIN", 300), format="admin", permissions=PRIVATE),
)
SECRET_VALUES = (Value(1, "note", b"internal", permissions=PRIVATE),)


def record(values, *, tombstone=False):
    """Stored record bytes, built the way the store builds them."""
    frames = [] if tombstone else [(v.permissions, v.index, v.to_frame()) for v in values]
    return encode_record(frames, 1_700_000_000, 1_700_000_100, "", "", tombstone)


class FakeRegistry:
    """The read helpers of the registry facade over a dict (a unit-test double)."""

    def __init__(self, records=None, served=("88.118.8",)):
        self.records = dict(records or {})
        self.served = served
        self.private_checks = 0

    def lookup(self, prefix, suffix):
        return self.records.get((prefix, suffix))

    def serves(self, prefix):
        return any(prefix == p or prefix.startswith(p + ".") for p in self.served)

    def can_read_private(self, principal, prefix):
        self.private_checks += 1
        return principal.credit_code == OWNER and self.serves(prefix)

    def authenticate(self, credential):
        if not credential:
            return ANONYMOUS
        if credential == GOOD_TOKEN:
            return OWNER_PRINCIPAL
        raise AuthenticationFailed("unknown or revoked token")


def make_registry() -> FakeRegistry:
    return FakeRegistry(
        {
            ("88.118.8", "JXDY2106023"): record(PRODUCT_VALUES),
            ("88.118.8", "SECRET"): record(SECRET_VALUES),
            ("88.118.8", "GONE"): record((), tombstone=True),
            ("88.118.8", "BROKEN"): record(PRODUCT_VALUES)[:-3],
        }
    )


def pbs(values, indexes):
    return [v.to_pb() for v in values if v.index in indexes]


def answer(handle, *, indexes=(), types=(), principal=ANONYMOUS, registry=None):
    reply = resolve(Query(handle, indexes, types, principal), registry or make_registry())
    return resolver_pb2.ResolveResponse.FromString(reply)


def test_stages_are_declared_in_order():
    names = [s.__name__ for s in pipeline.STAGES]
    assert names == ["normalise", "local_store", "referral", "render"]


def test_anonymous_sees_public_values_only_without_asking_the_registry():
    registry = make_registry()
    msg = answer("88.118.8/JXDY2106023", registry=registry)
    assert msg.response_code == 1
    assert msg.handle == "88.118.8/JXDY2106023"
    assert list(msg.values) == pbs(PRODUCT_VALUES, {1, 2, 3})
    assert msg.message == ""
    assert registry.private_checks == 0


def test_owner_sees_every_value():
    registry = make_registry()
    msg = answer("88.118.8/JXDY2106023", principal=OWNER_PRINCIPAL, registry=registry)
    assert list(msg.values) == pbs(PRODUCT_VALUES, {1, 2, 3, 4, 100})
    assert registry.private_checks == 1


def test_other_enterprise_sees_public_values_only():
    msg = answer("88.118.8/JXDY2106023", principal=STRANGER)
    assert list(msg.values) == pbs(PRODUCT_VALUES, {1, 2, 3})


def test_prefix_is_normalised():
    registry = FakeRegistry({("88.abc.8", "Mixed/Case"): record(PRODUCT_VALUES)}, served=("88.abc.8",))
    msg = answer("88.ABC.8/Mixed/Case", registry=registry)
    assert msg.handle == "88.abc.8/Mixed/Case"


@pytest.mark.parametrize(
    ("indexes", "types", "principal", "expected"),
    [
        ((2,), (), ANONYMOUS, {2}),
        ((1, 3), (), ANONYMOUS, {1, 3}),
        ((), ("URL",), ANONYMOUS, {1}),
        ((), ("contact.",), ANONYMOUS, {3}),  # "A." matches A.x subtypes
        ((), ("contact.",), OWNER_PRINCIPAL, {3, 4}),
        ((), ("URL", "HS_ADMIN"), OWNER_PRINCIPAL, {1, 100}),
        ((1, 2), ("productName",), ANONYMOUS, {2}),  # both filters apply
        ((4,), (), ANONYMOUS, set()),  # matches a private value: empty success
        ((), ("HS_ADMIN",), ANONYMOUS, set()),
    ],
)
def test_index_and_type_filters(indexes, types, principal, expected):
    msg = answer("88.118.8/JXDY2106023", indexes=indexes, types=types, principal=principal)
    assert msg.response_code == 1
    assert list(msg.values) == pbs(PRODUCT_VALUES, expected)


@pytest.mark.parametrize(
    ("indexes", "types", "message"),
    [
        ((99,), (), "index 99"),
        ((), ("EMAIL",), "type EMAIL"),
        ((1,), ("EMAIL",), "index 1 and type EMAIL"),
        ((), ("contact",), "type contact"),  # no trailing dot: the exact type only
    ],
)
@pytest.mark.parametrize("principal", [ANONYMOUS, OWNER_PRINCIPAL])
def test_values_not_found(indexes, types, message, principal):
    with pytest.raises(ValuesNotFound) as info:
        resolve(Query("88.118.8/JXDY2106023", indexes, types, principal), make_registry())
    assert info.value.code == 200
    assert info.value.message == f"handle 88.118.8/JXDY2106023 has no values matching {message}"
    assert info.value.handle == "88.118.8/JXDY2106023"


def test_nothing_visible_is_an_empty_success():
    msg = answer("88.118.8/SECRET")
    assert (msg.response_code, msg.handle, list(msg.values)) == (1, "88.118.8/SECRET", [])
    msg = answer("88.118.8/SECRET", principal=OWNER_PRINCIPAL)
    assert list(msg.values) == pbs(SECRET_VALUES, {1})


def test_tombstone_is_deleted():
    with pytest.raises(HandleDeleted) as info:
        resolve(Query("88.118.8/GONE"), make_registry())
    assert (info.value.code, info.value.message, info.value.handle) == (
        100,
        "handle 88.118.8/GONE was deleted",
        "88.118.8/GONE",
    )


def test_unknown_handle_is_not_found():
    with pytest.raises(HandleNotFound) as info:
        resolve(Query("88.118.8/NOPE"), make_registry())
    assert not isinstance(info.value, HandleDeleted)
    assert (info.value.code, info.value.message) == (100, "handle 88.118.8/NOPE not found")


def test_unknown_handle_under_a_sub_prefix_is_not_found():
    with pytest.raises(HandleNotFound):
        resolve(Query("88.118.8.1/X"), make_registry())


def test_foreign_prefix_is_not_this_servers_responsibility():
    with pytest.raises(ServerNotResponsible) as info:
        resolve(Query("86.100.1/X"), make_registry())
    assert info.value.code == 301
    assert "86.100.1" in info.value.message
    assert "recursion via the top-level node is not configured" in info.value.message


@pytest.mark.parametrize("text", ["no-slash", "", "/x", "88.118.8/", "88..8/x", "88.1\x00/x"])
def test_invalid_handle(text):
    with pytest.raises(InvalidHandle) as info:
        resolve(Query(text), make_registry())
    assert info.value.code == 102


def test_corrupt_record_is_a_server_error():
    with pytest.raises(ServerError) as info:
        resolve(Query("88.118.8/BROKEN"), make_registry())
    assert info.value.code == 2


def test_resolve_many_reports_failures_in_band_in_order():
    handles = [
        "88.118.8/JXDY2106023",
        "88.118.8/NOPE",
        "not a handle",
        "88.118.8/GONE",
        "86.100.1/X",
        "88.118.8/SECRET",
    ]
    reply = resolve_many(handles, (), (), ANONYMOUS, make_registry())
    results = resolver_pb2.BatchResolveResponse.FromString(reply).results
    assert [(r.response_code, r.handle) for r in results] == [
        (1, "88.118.8/JXDY2106023"),
        (100, "88.118.8/NOPE"),
        (102, "not a handle"),  # as given: it could not be normalised
        (100, "88.118.8/GONE"),
        (301, "86.100.1/X"),
        (1, "88.118.8/SECRET"),
    ]
    assert list(results[0].values) == pbs(PRODUCT_VALUES, {1, 2, 3})
    assert results[1].message == "handle 88.118.8/NOPE not found"
    assert results[3].message == "handle 88.118.8/GONE was deleted"
    assert [bool(r.message) for r in results] == [False, True, True, True, True, False]
    assert all(not r.values for r in results[1:])


def test_resolve_many_applies_filters_to_every_handle():
    handles = ["88.118.8/JXDY2106023", "88.118.8/SECRET"]
    reply = resolve_many(handles, (2,), (), OWNER_PRINCIPAL, make_registry())
    results = resolver_pb2.BatchResolveResponse.FromString(reply).results
    assert [r.response_code for r in results] == [1, 200]
    assert list(results[0].values) == pbs(PRODUCT_VALUES, {2})


def test_resolve_many_empty_and_limit():
    assert resolve_many([], (), (), ANONYMOUS, make_registry()) == b""
    handles = ["88.118.8/JXDY2106023"] * pipeline.MAX_BATCH_HANDLES
    assert (
        len(
            resolver_pb2.BatchResolveResponse.FromString(
                resolve_many(handles, (), (), ANONYMOUS, make_registry())
            ).results
        )
        == 1000
    )
    with pytest.raises(InvalidValue) as info:
        resolve_many(handles + ["x/y"], (), (), ANONYMOUS, make_registry())
    assert info.value.message == "at most 1000 handles per batch, got 1001"
