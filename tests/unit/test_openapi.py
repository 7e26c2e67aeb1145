"""/openapi.json (resolver/http/openapi.py): one document, true to the router in both directions."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

import idnode
from idnode.resolver.http import openapi
from idnode.resolver.http.server import ROUTE_MODULES, build_app
from idnode.settings import Settings

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


@pytest.fixture
def app(registry, tmp_path):
    return build_app(registry, Settings(data_dir=tmp_path))


def routed(app) -> set[tuple[str, str]]:
    """(path template, method) of every route but the web console's; the HEAD aiohttp adds beside each GET is left
    out."""
    pairs = {(route.resource.canonical, route.method.lower()) for route in app.router.routes()}
    console = {pair for pair in pairs if pair[0].startswith(openapi.BROWSER_ONLY)}
    assert ("/console/signin", "post") in console  # the console is routed, and only it is left out
    pairs -= console
    return {(path, method) for path, method in pairs if method != "head" or (path, "get") not in pairs}


def documented(document) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in METHODS}


def refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for child in node.values():
            yield from refs(child)
    elif isinstance(node, list):
        for child in node:
            yield from refs(child)


async def test_the_document_and_the_router_agree(app):
    async with TestClient(TestServer(app)) as client:
        reply = await client.get("/openapi.json")
        assert reply.status == 200 and reply.content_type == "application/json"
        document = await reply.json()
    assert document == openapi.build_document()
    assert routed(app) - documented(document) == set(), "routes missing from /openapi.json"
    assert documented(document) - routed(app) == set(), "documented operations that are not routed"


def test_the_document_is_whole():
    document = openapi.build_document()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "idnode" and document["info"]["version"] == idnode.__version__
    assert {"bearer", "basic", "handleSession"} <= set(document["components"]["securitySchemes"])
    for ref in set(refs(document)):
        assert ref.startswith("#/"), ref
        node = document
        for part in ref[2:].split("/"):
            assert part in node, f"dangling $ref {ref}"
            node = node[part]
    ids = [op["operationId"] for item in document["paths"].values() for m, op in item.items() if m in METHODS]
    assert len(ids) == len(set(ids)), "operationId used twice"
    for item in document["paths"].values():
        for method, operation in item.items():
            if method in METHODS:
                assert operation["responses"], operation["operationId"]
    assert {"/healthz", "/openapi.json", "/{handle}", "/01/{gtin}", "/01/{gtin}/21/{serial}"} <= set(document["paths"])


def test_every_route_module_with_paths_is_merged():
    document = openapi.build_document()
    for module in openapi._route_modules():
        for path, item in getattr(module, "OPENAPI_PATHS", {}).items():
            assert all(document["paths"][path][m] == op for m, op in item.items()), (module.__name__, path)
    assert len(openapi._route_modules()) <= len(ROUTE_MODULES)


def test_a_conflicting_definition_is_refused():
    into = {"/x": {"get": {"operationId": "a"}}}
    openapi._merge(into, {"/x": {"post": {"operationId": "b"}}}, "m")
    assert set(into["/x"]) == {"get", "post"}
    with pytest.raises(ValueError, match="m redefines /x get"):
        openapi._merge(into, {"/x": {"get": {"operationId": "c"}}}, "m")


def test_schemathesis_loads_the_document():
    schemathesis = pytest.importorskip("schemathesis")
    schema = schemathesis.openapi.from_dict(openapi.build_document())
    labels = {op.ok().label for op in schema.get_all_operations()}
    assert "GET /{handle}" in labels and "GET /healthz" in labels
