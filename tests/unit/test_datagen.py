"""The benchmark data generator: deterministic, unique, realistic, and valid for the registry."""

from __future__ import annotations

import collections
import io

import pytest

from idnode import _fastpath
from idnode.importer import iter_items
from idnode.loadtest import datagen
from idnode.registry.templates import gtin_valid
from idnode.registry.values import PERM_PUBLIC_READ


def test_same_seed_same_items_in_any_slice():
    whole = list(datagen.generate(300, seed=7))
    assert whole == list(datagen.generate(300, seed=7))
    assert whole[100:150] == list(datagen.generate(50, seed=7, start=100))
    assert whole[42] == datagen.item(42, seed=7)
    assert [w.handle for w in whole] == [datagen.handle_of(n, seed=7) for n in range(300)]


def test_other_seed_other_items():
    assert [w.handle for w in datagen.generate(50, seed=1)] != [w.handle for w in datagen.generate(50, seed=2)]


def test_handles_are_unique_valid_and_keep_their_prefix():
    handles = [datagen.handle_of(n, "88.118.8") for n in range(20_000)]
    assert len(set(handles)) == len(handles)
    keys = {_fastpath.handle_key(*_fastpath.parse_handle(h)) for h in handles}
    assert len(keys) == len(handles)
    assert all(_fastpath.parse_handle(h)[0] == "88.118.8" for h in handles)


def test_suffixes_look_like_carrier_codes():
    suffixes = [datagen.suffix_of(n) for n in range(500)]
    joined = "".join(suffixes)
    for char in "-_./":
        assert char in joined
    assert any(s.isalnum() and s[:4].isupper() for s in suffixes)  # JXDY2106023 style
    assert any(s.startswith("01.") for s in suffixes)  # GS1 element string
    assert any(s.count(".") == 3 and s[:1] == "C" for s in suffixes)  # C3441.DP200.20260102.000123
    assert any(s != s.upper() and s != s.lower() for s in suffixes)  # mixed case


def test_values_are_three_to_six_and_well_formed():
    items = list(datagen.generate(2000))
    counts = collections.Counter(len(w.values) for w in items)
    assert set(counts) == {3, 4, 5, 6}
    private = 0
    for w in items:
        types = [v.type for v in w.values]
        assert types[:3] == ["URL", "productName", "model"]
        assert w.template_version == datagen.DEMO_TEMPLATE_VERSION
        for v in w.values:
            if v.type == "GTIN":
                assert gtin_valid(v.text)
            if v.type == "batchNo" and not v.permissions & PERM_PUBLIC_READ:
                private += 1
    assert private > 0


@pytest.mark.parametrize(
    ("body", "whole"), [("400638133393", "4006381333931"), ("0000000000000", "00000000000000"), ("9638507", "96385074")]
)
def test_gtin_check_digit(body, whole):
    assert datagen.gtin_with_check(body) == whole
    assert gtin_valid(whole)


async def test_every_item_passes_the_registry(registry):
    token = await datagen.prepare_registry(registry, "88.118.8")
    enterprise = registry.authenticate(token)
    items = list(datagen.generate(1500, "88.118.8", seed=11))
    outcomes = await registry.batch_create(enterprise, items)
    assert [(o.code, o.message) for o in outcomes if o.code != 1] == []
    assert all(o.created for o in outcomes)
    stored = registry.get_record(enterprise, items[3].handle)
    assert len(stored.values) == len(items[3].values) + 1  # + the template version value


def test_jsonl_form_imports_as_the_pb_form():
    items = list(datagen.generate(40, seed=3))
    text = "".join(datagen.to_json_line(w) + "\n" for w in items)
    parsed = list(iter_items(io.BytesIO(text.encode()), "jsonl"))
    assert [p.error for p in parsed] == [""] * len(items)
    assert [p.write for p in parsed] == [datagen.to_pb(w) for w in items]


def test_write_jsonl(tmp_path):
    path = tmp_path / "items.jsonl"
    assert datagen.write_jsonl(path, datagen.generate(5)) == 5
    assert path.read_text().count("\n") == 5
