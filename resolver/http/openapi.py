"""``GET /openapi.json``: one OpenAPI 3.1 document for every HTTP route of the node.

Each route module documents its own operations in an ``OPENAPI_PATHS``
constant (path -> method -> operation object) and may add component
schemas in ``OPENAPI_COMPONENTS``; this module merges them, in the order
of ``server.ROUTE_MODULES``, with the shared components below and
``/healthz``, ``/metrics`` and ``/openapi.json`` themselves. ``tests/unit/test_openapi.py``
holds the document and the router to each other: every registered route is
documented and every documented operation is routed, except the routes under
:data:`BROWSER_ONLY` (the web console's HTML pages and forms: made for people
in a browser, not an API; see ``resolver/http/console/README.md``).
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

from aiohttp import web

import idnode
from idnode.resolver.http.errors import json_response

__all__ = ["BROWSER_ONLY", "COMPONENTS", "OPENAPI_PATHS", "build_document", "setup"]

BROWSER_ONLY = ("/console",)  # path starts of routes left out of the document: the web console

_VERSION = "3.1.0"

_HANDLE_VALUE: dict[str, Any] = {
    "type": "object",
    "required": ["index", "type", "data"],
    "properties": {
        "index": {"type": "integer", "minimum": 1, "maximum": 4294967295},
        "type": {"type": "string"},
        "data": {
            "type": "object",
            "required": ["format", "value"],
            "properties": {
                "format": {"type": "string", "enum": ["string", "base64", "hex", "admin", "vlist", "site", "key"]},
                "value": {},
            },
        },
        "ttl": {"type": "integer", "minimum": 0},
        "ttlType": {"type": "integer"},
        "timestamp": {"type": "string"},
        "permissions": {"type": "string", "pattern": "^[01]{4}$"},
        "references": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"handle": {"type": "string"}, "index": {"type": "integer"}},
            },
        },
    },
}

COMPONENTS: dict[str, dict[str, Any]] = {
    "schemas": {
        "Error": {
            "description": "A Handle response code other than 1 with a message (DOMAIN.md section 3)",
            "type": "object",
            "required": ["responseCode"],
            "properties": {
                "responseCode": {"type": "integer"},
                "handle": {"type": "string"},
                "message": {"type": "string"},
            },
        },
        "HandleValue": _HANDLE_VALUE,
        "HandleRecord": {
            "description": "A handle's values in the Handle.Net REST form",
            "type": "object",
            "required": ["responseCode", "handle", "values"],
            "properties": {
                "responseCode": {"type": "integer", "const": 1},
                "handle": {"type": "string"},
                "values": {"type": "array", "items": {"$ref": "#/components/schemas/HandleValue"}},
            },
        },
        "HandleRecordList": {
            "description": "Several records (a GTIN linked to several identifiers)",
            "type": "object",
            "required": ["responseCode", "handles"],
            "properties": {
                "responseCode": {"type": "integer", "const": 1},
                "gtin": {"type": "string"},
                "handles": {"type": "array", "items": {"$ref": "#/components/schemas/HandleRecord"}},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string"}},
        },
        "Readiness": {
            "type": "object",
            "required": ["status", "checks", "problems"],
            "properties": {
                "status": {"type": "string", "enum": ["ready", "not ready"]},
                "checks": {"type": "array", "items": {"type": "string"}},
                "problems": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "securitySchemes": {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "a node credential `idn1.<id>.<secret>` (node admin, auditor or enterprise token)",
        },
        "basic": {
            "type": "http",
            "scheme": "basic",
            "description": "Handle clients: user `<index>%3A<handle>` (e.g. `300%3A88.118.8/ADMIN`) and its secret",
        },
        "handleSession": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'a Handle session: `Authorization: Handle sessionId="<id>"` (POST /api/sessions)',
        },
    },
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {
        "get": {
            "operationId": "health",
            "tags": ["node"],
            "summary": "Liveness of this HTTP front end",
            "responses": {
                "200": {
                    "description": "alive",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                }
            },
        }
    },
    "/readyz": {
        "get": {
            "operationId": "readiness",
            "tags": ["node"],
            "summary": "Readiness of this process: store readable, writer reachable, not draining",
            "responses": {
                status: {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}},
                }
                for status, description in (("200", "ready"), ("503", "not ready: problems lists why"))
            },
        }
    },
    "/metrics": {
        "get": {
            "operationId": "metrics",
            "tags": ["node"],
            "summary": "Prometheus metrics of every process of the node",
            "responses": {
                "200": {
                    "description": "the Prometheus text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "404": {"description": "metrics are off (--no-metrics)"},
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "tags": ["node"],
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "the OpenAPI 3.1 document of every route",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
}


def _route_modules() -> list[Any]:
    from idnode.resolver.http.server import ROUTE_MODULES

    modules = []
    for name in ROUTE_MODULES:
        qualified = f"idnode.resolver.http.{name}"
        try:
            modules.append(importlib.import_module(qualified))
        except ModuleNotFoundError as exc:  # a route module not written yet: server.py skips it too
            if exc.name != qualified:
                raise
    return modules


def _merge(into: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]], where: str) -> None:
    """Add ``extra`` (path -> method -> operation, or kind -> name -> object); a differing duplicate is an error."""
    for key, entries in extra.items():
        target = into.setdefault(key, {})
        for name, item in entries.items():
            if name in target and target[name] != item:
                raise ValueError(f"OpenAPI: {where} redefines {key} {name}")
            target[name] = copy.deepcopy(item)


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route module in ``server.ROUTE_MODULES``.

    Raises:
        ValueError: two modules document the same operation or component differently.
    """
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = copy.deepcopy(COMPONENTS)
    _merge(paths, OPENAPI_PATHS, "openapi")
    for module in _route_modules():
        where = module.__name__.rsplit(".", 1)[-1]
        if module.__name__ != __name__:
            _merge(paths, getattr(module, "OPENAPI_PATHS", {}), where)
        _merge(components, getattr(module, "OPENAPI_COMPONENTS", {}), where)
    return {
        "openapi": _VERSION,
        "info": {
            "title": "idnode",
            "version": idnode.__version__,
            "description": (
                "A secondary node of the industrial-internet identifier (Handle) system: the Handle.Net REST"
                " API, the enterprise API of Chinese secondary nodes and the resolver pages."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": components,
    }


def setup(app: web.Application) -> None:
    """Register ``GET /openapi.json`` (the document is built once, here)."""
    body = build_document()

    async def openapi(request: web.Request) -> web.Response:
        return json_response(body)

    app.router.add_get("/openapi.json", openapi)
