"""The Handle value model: validation, protobuf and REST JSON forms."""

from __future__ import annotations

import pytest

from idnode.registry.errors import InvalidValue
from idnode.registry.values import (
    ADMIN_ADD_HANDLE,
    ADMIN_LIST_HANDLES,
    AdminData,
    Reference,
    Value,
    check_value_set,
)

CASES = [
    (Value(1, "URL", b"http://x"), {"index": 1, "type": "URL", "data": {"format": "string", "value": "http://x"}}),
    (Value(2, "BIN", b"\x00\x01", "base64"), {"data": {"format": "base64", "value": "AAE="}}),
    (
        Value(3, "BIN", b"\xab", "hex", permissions=0b1100),
        {"data": {"format": "hex", "value": "ab"}, "permissions": "1100"},
    ),
    (
        Value(100, "HS_ADMIN", AdminData("88.1/ADMIN", 300, 0b011111110011), "admin"),
        {"data": {"format": "admin", "value": {"handle": "88.1/ADMIN", "index": 300, "permissions": "011111110011"}}},
    ),
    (
        Value(5, "HS_VLIST", (Reference("88.1/a", 1),), "vlist"),
        {"data": {"format": "vlist", "value": [{"handle": "88.1/a", "index": 1}]}},
    ),
    (Value(6, "T", b"x", references=(Reference("88.1/r", 2),)), {"references": [{"handle": "88.1/r", "index": 2}]}),
]


@pytest.mark.parametrize("value, expected", CASES)
def test_json_both_directions(value, expected):
    out = value.to_json()
    for key, part in expected.items():
        assert out[key] == part
    assert "permissions" in out if value.permissions != 0b1110 else "permissions" not in out
    assert Value.from_json(out) == value


@pytest.mark.parametrize("value, _", CASES)
def test_protobuf_both_directions(value, _):
    assert Value.from_frame(value.to_frame()) == value


def test_absent_ttl_and_permissions_take_handle_defaults():
    from idnode.proto import common_pb2

    v = Value.from_pb(common_pb2.HandleValue(index=1, type="URL", data=b"x"))
    assert (v.ttl, v.permissions, v.format) == (86400, 0b1110, "string")
    assert Value.from_pb(common_pb2.HandleValue(index=1, type="URL", data=b"x", permissions=0)).permissions == 0


def test_bare_string_data():
    assert Value.from_json({"index": 1, "type": "URL", "data": "http://x"}) == Value(1, "URL", b"http://x")


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"index": 0}, "value index must be an integer from 1"),
        ({"index": 2**32}, "value index must be an integer from 1"),
        ({"type": ""}, "type of value 1 is empty"),
        ({"type": "x" * 129}, "at most 128 allowed"),
        ({"type": "a\nb"}, "control character U+000A"),
        ({"data": "text"}, "data must be bytes"),
        ({"data": b"\xff"}, "not valid UTF-8"),
        ({"data": b"x" * 256}, "256 characters, at most 255"),
        ({"format": "xml"}, "unknown data format 'xml'"),
        ({"ttl": -1}, "ttl must be an integer"),
        ({"permissions": 16}, "permissions must be 4 bits"),
        ({"type": "HS_ADMIN"}, "HS_ADMIN values need admin data"),
    ],
)
def test_invalid_values(kwargs, fragment):
    args = {"index": 1, "type": "URL", "data": b"x"} | kwargs
    with pytest.raises(InvalidValue) as info:
        Value(**args)
    assert info.value.code == 202
    assert fragment in info.value.message


@pytest.mark.parametrize(
    "obj, fragment",
    [
        ([], "must be a JSON object"),
        ({"index": 1, "type": "URL"}, "data must be a string or {format, value}"),
        ({"index": 1, "type": "B", "data": {"format": "base64", "value": "!!"}}, "not valid base64"),
        ({"index": 1, "type": "B", "data": {"format": "hex", "value": "zz"}}, "not valid hex"),
        ({"index": 1, "type": "U", "data": "x", "permissions": "11"}, "permissions must be 4 characters"),
        (
            {
                "index": 1,
                "type": "HS_ADMIN",
                "data": {"format": "admin", "value": {"handle": "a/b", "index": 1, "permissions": "1"}},
            },
            "12 characters",
        ),
    ],
)
def test_invalid_json(obj, fragment):
    with pytest.raises(InvalidValue) as info:
        Value.from_json(obj)
    assert fragment in info.value.message


def test_admin_bits():
    a = AdminData("88.1/ADMIN", 300, ADMIN_ADD_HANDLE | ADMIN_LIST_HANDLES)
    assert a.allows(ADMIN_ADD_HANDLE) and a.allows(ADMIN_LIST_HANDLES) and not a.allows(0x002)
    with pytest.raises(InvalidValue):
        AdminData("88.1/ADMIN", 300, 0x1000)


def test_values_are_immutable():
    v = Value(1, "URL", b"x")
    with pytest.raises(AttributeError):
        v.index = 2  # type: ignore[misc]


def test_value_set_rules():
    check_value_set([Value(1, "A", b"x"), Value(2, "B", b"y")])
    with pytest.raises(InvalidValue, match="at least one value"):
        check_value_set([])
    with pytest.raises(InvalidValue, match="index 1 appears twice"):
        check_value_set([Value(1, "A", b"x"), Value(1, "B", b"y")])
