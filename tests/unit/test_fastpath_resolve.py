"""resolve_local (both twins): the common case of a batch in one loop, every
other handle deferred to the stage pipeline; and the batch answers stay
exactly those of the stages."""

from __future__ import annotations

import importlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode._fastpath import _common, _identifiers_py, _record_py, _resolve_py
from idnode.proto import resolver_pb2
from idnode.registry.values import Value

IMPLEMENTATIONS = [_resolve_py]
try:
    IMPLEMENTATIONS.append(importlib.import_module("idnode._fastpath._resolve_c"))
except ImportError:  # pragma: no cover - depends on the build
    if os.environ.get("CI") or os.environ.get("IDNODE_REQUIRE_EXTENSIONS"):
        raise

PUBLIC = Value(1, "URL", b"https://x.example/1")
PRIVATE = Value(2, "note", b"internal", permissions=0b1100)


def record(*values: Value, tombstone: bool = False) -> bytes:
    frames = [] if tombstone else [(v.permissions, v.index, v.to_frame()) for v in values]
    return _record_py.encode_record(frames, 1, 2, "", "", tombstone)


STORE = {
    _identifiers_py.handle_key("88.118.8", "A"): record(PUBLIC, PRIVATE),
    _identifiers_py.handle_key("88.118.8", "PRIV"): record(PRIVATE),
    _identifiers_py.handle_key("88.118.8", "GONE"): record(tombstone=True),
    _identifiers_py.handle_key("88.118.8", "BAD"): b"\x07garbage",
}


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def impl(request):
    return request.param


def test_answers_the_common_case_and_defers_the_rest(impl):
    handles = ["88.118.8/A", "88.118.8/none", "88.118.8/GONE", "88.118.8/BAD", "88.118.8/", "88.118.8/PRIV"]
    out = impl.resolve_local(handles, STORE.get, _common.PERM_PUBLIC_READ, (), ())
    assert out[1:5] == [None, None, None, None]
    first = resolver_pb2.ResolveResponse.FromString(out[0])
    assert (first.response_code, first.handle, [v.index for v in first.values]) == (1, "88.118.8/A", [1])
    empty = resolver_pb2.ResolveResponse.FromString(out[5])  # only private values: success, none shown
    assert (empty.response_code, list(empty.values)) == (1, [])


def test_filters_that_match_nothing_are_deferred(impl):
    assert impl.resolve_local(["88.118.8/A"], STORE.get, 0, (9,), ()) == [None]
    assert impl.resolve_local(["88.118.8/A"], STORE.get, 0, (), ("EMAIL",)) == [None]
    hit = impl.resolve_local(["88.118.8/A"], STORE.get, 0, (2,), ())[0]
    assert [v.index for v in resolver_pb2.ResolveResponse.FromString(hit).values] == [2]


def test_case_and_normalisation(impl):
    out = impl.resolve_local(["88.118.8/a", "88.118.8/A"], STORE.get, 0, (), ())
    assert out[0] is None and out[1] is not None  # suffixes are case-sensitive
    assert impl.resolve_local(["88.118.8/A"], STORE.get, 0, (), ())[0] is not None


@given(
    handles=st.lists(
        st.one_of(
            st.sampled_from(["88.118.8/A", "88.118.8/PRIV", "88.118.8/GONE", "88.118.8/BAD"]), st.text(max_size=20)
        ),
        max_size=8,
    ),
    perms=st.sampled_from([0, _common.PERM_PUBLIC_READ]),
    indexes=st.lists(st.integers(0, 5), max_size=2).map(tuple),
    types=st.lists(st.sampled_from(["URL", "note", "U.", "x"]), max_size=2).map(tuple),
)
def test_twins_agree(handles, perms, indexes, types):
    results = [m.resolve_local(handles, STORE.get, perms, indexes, types) for m in IMPLEMENTATIONS]
    assert all(r == results[0] for r in results)
    assert len(results[0]) == len(handles)


BATCH = [
    "88.118.8/JXDY2106023",
    "88.118.8/SECRET",
    "88.118.8/GONE",
    "88.118.8/never",
    "20.500/elsewhere",
    "88.118.8/",
    "88.118.8/JXDY2106023",
]


@pytest.mark.parametrize("who", ["anonymous", "owner", "stranger"])
@pytest.mark.parametrize("filters", [((), ()), ((1,), ()), ((), ("URL",)), ((99,), ())])
async def test_batches_answer_exactly_as_the_stages(seeded, who, filters):
    """The fused loop changes speed, not answers: every result equals the
    stage pipeline's answer for that handle alone."""
    from idnode.resolver import pipeline

    indexes, types = filters
    principal = seeded.principals[who]
    batch = resolver_pb2.BatchResolveResponse.FromString(
        pipeline.resolve_many(BATCH, indexes, types, principal, seeded.registry)
    )
    expected = []
    for text in BATCH:
        query = pipeline.Query(text, indexes, types, principal)
        try:
            expected.append(resolver_pb2.ResolveResponse.FromString(pipeline.resolve(query, seeded.registry)))
        except Exception as err:
            expected.append(
                resolver_pb2.ResolveResponse(response_code=err.code, handle=query.handle or text, message=err.message)
            )
    assert list(batch.results) == expected
