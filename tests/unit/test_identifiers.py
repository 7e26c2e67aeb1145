"""Identifier parsing, normalisation and key encoding (every twin)."""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.registry.errors import InvalidHandle

IMPLEMENTATIONS = ["idnode._fastpath._identifiers_py"]
try:  # the compiled twin, when built
    importlib.import_module("idnode._fastpath._identifiers_c")
    IMPLEMENTATIONS.append("idnode._fastpath._identifiers_c")
except ImportError:
    pass


@pytest.fixture(params=IMPLEMENTATIONS)
def ids(request):
    return importlib.import_module(request.param)


@pytest.mark.parametrize(
    "text, prefix, suffix",
    [
        ("88.118.8/JXDY2106023", "88.118.8", "JXDY2106023"),
        ("88.118.8/a/b/c", "88.118.8", "a/b/c"),  # split at the first '/'
        ("20.500.ABC/Mixed.Case", "20.500.abc", "Mixed.Case"),  # prefix folded, suffix kept
        ("0.NA/88.118", "0.na", "88.118"),
        ("88.101.0042/x", "88.101.0042", "x"),  # leading zeros count
        ("88.1/e\u0301", "88.1", "\u00e9"),  # NFC
        ("88.1/with space", "88.1", "with space"),
        ("88.1/产品-01", "88.1", "产品-01"),
    ],
)
def test_parse_valid(ids, text, prefix, suffix):
    assert ids.parse_handle(text) == (prefix, suffix)
    assert ids.normalise_handle(text) == f"{prefix}/{suffix}"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty handle"),
        ("88.118.8", "no '/'"),
        ("/abc", "empty prefix before '/' at position 0"),
        ("88.118.8/", "empty suffix after '/' at position 8"),
        ("88..8/x", "empty prefix segment at position 3"),
        (".88/x", "empty prefix segment at position 0"),
        ("88.1/a\x07b", "control character U+0007 at position 6"),
        ("88.1/a\x85b", "control character U+0085 at position 6"),
        ("88\t1/x", "control character U+0009 at position 2"),
        ("88 1/x", "whitespace in prefix at position 2"),
        ("88.1/" + "x" * 251, "256 characters, at most 255"),
        ("8" * 65 + "/x", "prefix of 65 characters, at most 64"),
        ("88.1/\ud800", "unpaired surrogate U+D800 at position 5"),
    ],
)
def test_parse_invalid(ids, text, fragment):
    with pytest.raises(InvalidHandle) as info:
        ids.parse_handle(text)
    assert info.value.code == 102
    assert fragment in info.value.message


def test_parse_rejects_non_text(ids):
    with pytest.raises(InvalidHandle, match="expected text, got bytes"):
        ids.parse_handle(b"88.1/x")


def test_limits_are_inclusive(ids):
    assert ids.parse_handle("88.1/" + "x" * 250)[1] == "x" * 250
    assert ids.parse_handle("8" * 64 + "/x")[0] == "8" * 64


def test_parse_prefix(ids):
    assert ids.parse_prefix("88.118.ABC") == "88.118.abc"
    for bad in ("", "88/1", "88..1"):
        with pytest.raises(InvalidHandle):
            ids.parse_prefix(bad)


def test_key_layout_orders_one_prefix_as_one_range(ids):
    key = ids.handle_key("88.118.8", "JX")
    assert key == b"88.118.8\x00JX"
    assert key.startswith(ids.prefix_key("88.118.8"))
    assert not ids.handle_key("88.118.80", "A").startswith(ids.prefix_key("88.118.8"))
    assert ids.key_handle(key) == "88.118.8/JX"
    assert not ids.key_is_digested(key)


def test_long_keys_are_digested_and_distinct(ids):
    a = ids.handle_key("88.1", "\u4e00" * 200 + "a")
    b = ids.handle_key("88.1", "\u4e00" * 200 + "b")
    assert len(a) == len(b) == 511
    assert a != b and a[:479] == b[:479]
    assert ids.key_is_digested(a)


@given(st.text(max_size=300))
def test_parse_never_crashes(text):
    from idnode import _fastpath

    try:
        prefix, suffix = _fastpath.parse_handle(text)
    except InvalidHandle as exc:
        assert exc.code == 102 and exc.message.startswith("invalid handle")
        return
    assert prefix and suffix and len(prefix) + len(suffix) + 1 <= 255
    assert prefix == prefix.lower()
    assert _fastpath.parse_handle(prefix + "/" + suffix) == (prefix, suffix)  # idempotent
    assert len(_fastpath.handle_key(prefix, suffix)) <= 511
