"""Fuzzing the REST JSON handlers: arbitrary methods, paths, queries and bodies into the real aiohttp app.

The app (resolver/http/server.py ``build_app``) runs on a loopback test
server over the seeded registry (real LMDB). For every request: never a 5xx,
a JSON error body on the API paths, and a rejected request (HTTP >= 400, or
the enterprise API's ``code`` other than 1) leaves the change log's head
where it was. ``HYPOTHESIS_PROFILE=fuzz`` makes the run long (tests/README.md).
"""

from __future__ import annotations

import json
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = [
    "handle", "values", "index", "type", "data", "format", "value", "ttl", "timestamp", "permissions",
    "references", "items", "handles", "prefix", "version", "templateVersion", "idType", "content", "creditCode",
    "name", "auth", "tokenId", "credential", "token", "indexes", "metadata", "ttlType", "responseCode", "role",
]  # fmt: skip
HANDLES = ["88.118.8/JXDY2106023", "88.118.8/SECRET", "88.118.8/GONE", "88.118.8/NEW", "88.118.9/X", "0.NA/88.118.8"]

scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12)
handle_text = st.sampled_from(HANDLES) | st.text(max_size=40) | st.builds("88.118.8/{}".format, st.text(max_size=30))
json_any = st.recursive(
    scalars | handle_text,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=14,
)
value_like = st.fixed_dictionaries(
    {},
    optional={
        "index": st.integers(-5, 2**33) | st.text(max_size=4),
        "type": st.sampled_from(["URL", "HS_ADMIN", "EMAIL", ""]) | st.text(max_size=8),
        "data": st.fixed_dictionaries(
            {}, optional={"format": st.sampled_from(["string", "admin", "vlist", "base64", "hex"]), "value": json_any}
        )
        | json_any,
        "ttl": st.integers(-10, 2**40) | scalars,
        "permissions": st.text("01", max_size=6) | scalars,
        "ttlType": st.integers(-1, 3),
        "references": json_any,
    },
)
record_like = st.fixed_dictionaries(
    {},
    optional={
        "handle": handle_text,
        "values": st.lists(value_like, max_size=4) | json_any,
        "templateVersion": st.text(max_size=6),
        "prefix": st.sampled_from(["88.118.8", "88.118.9", ""]) | st.text(max_size=8),
        "version": st.text(max_size=6),
        "items": st.lists(value_like, max_size=3),
    },
)
bodies = st.one_of(
    st.none(),
    json_any.map(json.dumps),
    record_like.map(json.dumps),
    st.lists(record_like, max_size=3).map(json.dumps),
    st.binary(max_size=60),
)
queries = st.dictionaries(
    st.sampled_from(["handle", "index", "type", "page", "pageSize", "prefix", "version", "overwrite", "mintNewSuffix"]),
    st.sampled_from(HANDLES + ["1", "0", "-1", "true", "URL", "88.118.8", ""]) | st.text(max_size=10),
    max_size=3,
)
API_PATHS = [
    "/api/handles/{h}", "/api/handles", "/api/sessions", "/api/sessions/this", "/identity/token",
    "/identityv2/data/detail", "/identityv2/data", "/identityv2/data/batchCreate", "/identityv2/data/batchUpdate",
    "/identityv2/data/batchDelete", "/identityv2/template",
]  # fmt: skip
OTHER_PATHS = ["/{h}", "/01/{h}", "/01/{h}/21/{h}", "/healthz", "/readyz", "/openapi.json"]
requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"]),
        "path": st.sampled_from(API_PATHS + OTHER_PATHS),
        "handle": handle_text,
        "query": queries,
        "body": bodies,
        "who": st.sampled_from(["anonymous", "owner", "stranger", "admin", "garbage", "basic-garbage"]),
    }
)


def headers_of(seeded, who: str) -> dict[str, str]:
    if who == "anonymous":
        return {}
    if who == "garbage":
        return {"Authorization": "Bearer not-a-token"}
    if who == "basic-garbage":
        return {"Authorization": "Basic !!not base64"}
    return {"Authorization": f"Bearer {seeded.tokens[who]}"}


async def send(client, seeded, case) -> tuple[int, bytes, str]:
    path = case["path"].replace("{h}", urllib.parse.quote(case["handle"], safe="/"))
    if path.startswith("//"):  # the test client would take it for a URL with a host
        path = "/%2F" + path[2:]
    if case["query"]:
        path += "?" + urllib.parse.urlencode(case["query"])
    body = case["body"]
    headers = headers_of(seeded, case["who"])
    if body is not None:
        headers["Content-Type"] = "application/json"
    reply = await client.request(case["method"], path, headers=headers, data=body, allow_redirects=False)
    return reply.status, await reply.read(), path


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=requests)
async def test_rest_handlers_never_fail_and_rejections_change_nothing(seeded, client, case):
    store = seeded.registry.store
    head = store.last_sequence()
    status, raw, path = await send(client, seeded, case)
    assert status < 500, (case, path, status, raw[:300])
    is_api = path.startswith(("/api/", "/identity"))
    document = None
    if is_api and status not in (404, 405):
        document = json.loads(raw)  # every API answer, errors included, is JSON
    refused = status >= 400 or (isinstance(document, dict) and document.get("code", 1) != 1)
    if refused:
        assert store.last_sequence() == head, (case, path, status, raw[:300])
