"""The Handle.Net REST API (``/api/handles``, ``/api/sessions``): the interface existing Handle clients speak.

Routes (DOMAIN.md section 4; the README's "Handle.Net REST API" section has
the details and examples):

- ``GET /api/handles/{handle}``: the values the caller may read, filtered by
  ``index=`` and ``type=`` (``A.`` matches ``A.x``); ``publicOnly=true``
  shows only public values; ``auth=true`` is accepted (there is no cache to
  bypass).
- ``PUT /api/handles/{handle}``: without ``index=`` the body is the whole
  record (create, or replace when ``overwrite`` is true); with ``index=``
  (or ``index=various``) only the body's values are set, the others kept
  (registry update mode ``merge``, or ``add`` when ``overwrite=false``).
  ``mintNewSuffix=true`` creates ``<given>`` + a new UUID.
- ``DELETE /api/handles/{handle}``: the handle, or with ``index=`` those values.
- ``GET /api/handles?prefix=P&page=N&pageSize=M``: one page of the live
  handles under ``P`` (who may list: the registry's export rules).
- ``POST /api/sessions``, ``GET|DELETE /api/sessions/this``: sessions bound
  to the credential that opened them, kept in LMDB so every worker sees them.

Authentication: Basic ``<index>:<handle>`` + a node credential (checked by
:meth:`Registry.authenticate_as`), bearer tokens, ``Handle sessionId="..."``.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from idnode import _fastpath
from idnode.registry.auth import ANONYMOUS, Principal
from idnode.registry.errors import (
    AuthenticationFailed,
    AuthenticationNeeded,
    HandleAlreadyExists,
    HandleError,
    HandleNotFound,
    InvalidValue,
    ProtocolError,
)
from idnode.registry.model import IdentifierUpdate, IdentifierWrite
from idnode.registry.values import MAX_VALUES, TEMPLATE_VERSION_INDEX, TEMPLATE_VERSION_TYPE, Value
from idnode.resolver.http.auth import credential_of, principal_of
from idnode.resolver.http.errors import error_response, http_status, json_response, status_of
from idnode.resolver.http.keys import AUTHENTICATORS, REGISTRY
from idnode.resolver.recursion import recursive_record

__all__ = ["OPENAPI_COMPONENTS", "OPENAPI_PATHS", "setup"]

DEFAULT_PAGE_SIZE = 1000
WWW_AUTHENTICATE = 'Basic realm="idnode", Handle realm="idnode"'
_VALUE_FIELDS = frozenset(("index", "type", "data", "ttl", "ttlType", "timestamp", "permissions", "references"))
_DATA_FIELDS = frozenset(("format", "value"))
_BODY_FIELDS = frozenset(("values", "handle"))

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _handle_errors(resolving: bool = False) -> Callable[[Handler], Handler]:
    """Map a HandleError to its JSON body here, adding ``WWW-Authenticate`` to 401s and the URL's handle."""

    def wrap(handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except HandleError as exc:
                handle = exc.handle or request.match_info.get("handle", "")
                status = status_of(exc, resolving)
                headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if status == 401 else None
                response = error_response(exc.code, exc.message, handle, status)
                if headers:
                    response.headers.update(headers)
                return response

        run.__name__ = run.__qualname__ = handler.__name__
        return run

    return wrap


# -- query parameters -----------------------------------------------------------------


def _flag(request: web.Request, name: str, default: bool) -> bool:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ProtocolError(f"query parameter {name} must be true or false, got {text!r}")


def _integer(text: str, name: str, low: int = 0) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) < low:
        raise ProtocolError(f"query parameter {name} must be an integer >= {low}, got {text!r}")
    return int(text)


def _indexes(request: web.Request, various: bool = False) -> tuple[int, ...] | None:
    """The ``index=`` parameters; None when absent, ``()`` for ``index=various`` (PUT only)."""
    texts = request.query.getall("index", [])
    if not texts:
        return None
    if various and "various" in texts:
        if len(texts) > 1:
            raise ProtocolError("index=various cannot be combined with other index parameters")
        return ()
    return tuple(_integer(t, "index", 1) for t in texts)


def _caller(request: web.Request) -> Principal:
    """The authenticated caller of a write: 401 (with WWW-Authenticate) when anonymous."""
    principal = principal_of(request)
    if principal.is_anonymous:
        raise AuthenticationNeeded("authentication needed: Basic <index>:<handle>, Bearer or a Handle session")
    return principal


# -- bodies -----------------------------------------------------------------------------


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise ProtocolError("the request body is empty; expected JSON values")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"the request body is not valid JSON: {exc}") from None


def _value_of(entry: Any) -> Value:
    """One REST JSON value, strictly: unknown fields are refused; an admin index may be a digit string."""
    if not isinstance(entry, dict):
        raise InvalidValue(f"a value must be a JSON object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - _VALUE_FIELDS)
    if unknown:
        raise InvalidValue(f"value {entry.get('index')!r}: unknown fields {', '.join(unknown)}")
    for field in ("index", "type", "data"):
        if field not in entry:
            raise InvalidValue(f"value {entry.get('index')!r}: {field} is missing")
    if not isinstance(entry["index"], int) or isinstance(entry["index"], bool):
        raise InvalidValue(f"value index must be an integer, got {entry['index']!r}")
    data = entry["data"]
    if isinstance(data, dict):
        unknown = sorted(set(data) - _DATA_FIELDS)
        if unknown:
            raise InvalidValue(f"value {entry['index']}: unknown data fields {', '.join(unknown)}")
        payload = data.get("value")
        if data.get("format") == "admin" and isinstance(payload, dict):
            admin_index = payload.get("index")
            if isinstance(admin_index, str) and admin_index.isascii() and admin_index.isdigit():
                # pyhandle and the Handle admin tool write the admin index as text ("300")
                entry = {**entry, "data": {**data, "value": {**payload, "index": int(admin_index)}}}
    try:
        return Value.from_json(entry)
    except HandleError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidValue(f"value {entry.get('index')!r}: {exc}") from None


def _values_of(body: Any, handle: str, check_handle: bool) -> tuple[tuple[Value, ...], str]:
    """``(values, template_version)`` of a PUT body: an array, ``{"values": [...]}``, or one value.

    A value at the reserved index 1001 of type TEMPLATE_VERSION (as a GET
    shows it) names the template version instead of being stored as given.
    """
    if isinstance(body, list):
        entries = body
    elif isinstance(body, dict) and "values" in body:
        unknown = sorted(set(body) - _BODY_FIELDS)
        if unknown:
            raise InvalidValue(f"unknown fields {', '.join(unknown)} beside values")
        entries = body["values"]
        if not isinstance(entries, list):
            raise InvalidValue("values must be an array of values")
        named = body.get("handle")
        if (named is not None and check_handle) and (
            not isinstance(named, str) or _fastpath.normalise_handle(named) != handle
        ):
            raise InvalidValue(f"the body names handle {named!r}, the URL {handle}")
    elif isinstance(body, dict):
        entries = [body]
    else:
        raise InvalidValue(
            f"the body must be an array of values, {{values: [...]}} or one value, not {type(body).__name__}"
        )
    if not entries:
        raise InvalidValue("no values given")
    if len(entries) > MAX_VALUES:
        raise InvalidValue(f"{len(entries)} values, at most {MAX_VALUES} allowed")
    values = []
    template_version = ""
    for entry in entries:
        value = _value_of(entry)
        if value.index == TEMPLATE_VERSION_INDEX and value.type == TEMPLATE_VERSION_TYPE and value.format == "string":
            template_version = value.text
            continue
        values.append(value)
    return tuple(values), template_version


def _record_json(handle: str, values: Any, code: int = 1, message: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"responseCode": code, "handle": handle}
    if message:
        body["message"] = message
    body["values"] = [v.to_json() for v in values]
    return body


# -- handlers ---------------------------------------------------------------------------


@_handle_errors(resolving=True)
async def get_handle(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    principal = principal_of(request)  # bad credentials fail even when only public values are asked for
    if _flag(request, "publicOnly", False):
        principal = ANONYMOUS
    _flag(request, "auth", False)  # no cache sits in front of the registry: every answer is authoritative
    indexes = _indexes(request) or ()
    types = tuple(request.query.getall("type", []))
    recursed = await recursive_record(registry, request.match_info["handle"], indexes, types)
    if recursed is not None:  # a prefix this node does not serve: the owner's answer, via the top-level node
        response = json_response(_record_json(recursed.handle, recursed.values))
        response.headers.update(recursed.headers)
        return response
    record = registry.get_record(principal, request.match_info["handle"])
    values = [
        v
        for v in record.values
        if (not indexes or v.index in indexes) and (not types or _fastpath.type_matches(v.type, types))
    ]
    if (indexes or types) and not values:
        return json_response(_record_json(record.handle, (), 200, "values not found"), http_status(200, True))
    return json_response(_record_json(record.handle, values))


@_handle_errors()
async def put_handle(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    principal = _caller(request)
    overwrite = _flag(request, "overwrite", True)
    mint = _flag(request, "mintNewSuffix", False)
    indexes = _indexes(request, various=True)
    text = request.match_info["handle"]
    if mint:
        text = (text if "/" in text else text + "/") + str(uuid.uuid4())
    handle = _fastpath.normalise_handle(text)
    values, template_version = _values_of(await _json_body(request), handle, check_handle=not mint)
    if indexes:
        given = sorted(v.index for v in values)
        if given != sorted(indexes):
            raise InvalidValue(
                f"index parameters {sorted(indexes)} do not match the body's indexes {given}", handle=handle
            )
    if mint or indexes is None:
        status = await _put_whole(registry, principal, handle, values, template_version, overwrite and not mint)
    else:
        status = await _put_some(registry, principal, handle, values, template_version, overwrite)
    headers = {"Location": f"/api/handles/{handle}"} if status == 201 else None
    return json_response({"responseCode": 1, "handle": handle}, status, headers)


async def _put_whole(
    registry: Any, principal: Principal, handle: str, values: tuple[Value, ...], version: str, overwrite: bool
) -> int:
    """Create (201) or, with ``overwrite``, replace every value (200); 409 when it exists and may not be replaced."""
    try:
        outcome = await registry.create(principal, IdentifierWrite(handle, values, version))
    except HandleAlreadyExists:
        if not overwrite:
            raise
    else:
        if outcome.created:
            return 201
        if not overwrite:
            raise HandleAlreadyExists(f"handle {handle} already exists", handle=handle)
    await registry.update(principal, IdentifierUpdate(handle, "replace", values, template_version=version))
    return 200


async def _put_some(
    registry: Any, principal: Principal, handle: str, values: tuple[Value, ...], version: str, overwrite: bool
) -> int:
    """Set these values, keeping the others (``add`` without ``overwrite``: 409 if one exists); create if missing."""
    mode = "merge" if overwrite else "add"
    for _ in range(2):  # a concurrent create between our update and create: update again
        try:
            await registry.update(principal, IdentifierUpdate(handle, mode, values, template_version=version))
            return 200
        except HandleNotFound:
            pass
        try:
            outcome = await registry.create(principal, IdentifierWrite(handle, values, version))
            return 201 if outcome.created else 200
        except HandleAlreadyExists:
            continue
    raise HandleAlreadyExists(f"handle {handle} changed during the write; retry", handle=handle)


@_handle_errors()
async def delete_handle(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    principal = _caller(request)
    indexes = _indexes(request)
    handle = _fastpath.normalise_handle(request.match_info["handle"])
    if indexes:
        await registry.update(principal, IdentifierUpdate(handle, "remove", remove_indexes=tuple(sorted(set(indexes)))))
    else:
        await registry.delete(principal, handle)
    return json_response({"responseCode": 1, "handle": handle})


@_handle_errors()
async def list_handles(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    principal = _caller(request)
    prefix = request.query.get("prefix")
    if not prefix:
        raise ProtocolError("query parameter prefix is required")
    page = _integer(request.query.get("page", "0"), "page")
    page_size = _integer(request.query.get("pageSize", str(DEFAULT_PAGE_SIZE)), "pageSize")
    normalised = _fastpath.parse_prefix(prefix)
    total, handles = registry.list_handles(principal, normalised, page, page_size)
    return json_response({"responseCode": 1, "prefix": normalised, "totalCount": total, "handles": handles})


def _session_id(request: web.Request) -> str:
    found = credential_of(request)
    if found is None or found[0] != "session":
        raise AuthenticationNeeded('this needs the session: Authorization: Handle sessionId="..."')
    return found[2]


def _iso(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@_handle_errors()
async def open_session(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    principal = _caller(request)
    session_id, expires = await registry.open_session(principal)
    return json_response({"sessionId": session_id, "authenticated": True, "expires": _iso(expires)}, 201)


@_handle_errors()
async def this_session(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    session_id = _session_id(request)
    registry.authenticate_session(session_id)
    expires = registry.session_expires(session_id)
    return json_response({"sessionId": session_id, "authenticated": True, "expires": _iso(expires)})


@_handle_errors()
async def close_session(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    if not await registry.close_session(_session_id(request)):
        raise AuthenticationFailed("unknown or closed session")
    return json_response({"responseCode": 1, "message": "session closed"})


def _basic(registry: Any, user: str, secret: str) -> Principal:
    if user.isdigit() and ":" in secret:
        # An unencoded ``300:88.118.8/ADMIN`` user: Basic splits at its first ':'. Node credentials hold no ':'.
        handle, _, secret = secret.rpartition(":")
        user = f"{user}:{handle}"
    return registry.authenticate_as(user, secret)


def _session(registry: Any, user: str, secret: str) -> Principal:
    return registry.authenticate_session(secret)


def setup(app: web.Application) -> None:
    """Register the routes and the Basic ``<index>:<handle>`` and session authenticators."""
    app[AUTHENTICATORS]["basic"] = _basic
    app[AUTHENTICATORS]["session"] = _session
    router = app.router
    router.add_get("/api/handles", list_handles)
    router.add_get("/api/handles/{handle:.+}", get_handle)
    router.add_put("/api/handles/{handle:.+}", put_handle)
    router.add_delete("/api/handles/{handle:.+}", delete_handle)
    router.add_post("/api/sessions", open_session)
    router.add_get("/api/sessions/this", this_session)
    router.add_delete("/api/sessions/this", close_session)


# -- OpenAPI ------------------------------------------------------------------------------

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json_of(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "invalid handle (102), value (202) or request (4); values not found (200) on writes",
        401: "authentication needed (402); carries WWW-Authenticate",
        403: "authentication failed (403) or insufficient permissions (401)",
        404: "handle not found or deleted (100)",
        409: "handle (101) or value (201) already exists",
        413: "request body over 8 MiB",
        414: "request target over 8 KiB",
        500: "internal error (2)",
        503: "the node's writer process is not reachable (3); retry",
    }
    return {str(s): _json_of(_ERROR, texts[s]) for s in statuses}


OPENAPI_COMPONENTS: dict[str, dict[str, Any]] = {
    "schemas": {
        "HandleApiRecord": {
            "description": "GET /api/handles/{handle}: responseCode 1 with the readable values, or 200 when the"
            " index/type filters match none",
            "type": "object",
            "required": ["responseCode", "handle", "values"],
            "properties": {
                "responseCode": {"type": "integer", "enum": [1, 200]},
                "handle": {"type": "string"},
                "message": {"type": "string"},
                "values": {"type": "array", "items": {"$ref": "#/components/schemas/HandleValue"}},
            },
        },
        "HandleApiValueInput": {
            "description": "A value to write; data as {format, value} or a bare string",
            "type": "object",
            "required": ["index", "type", "data"],
            "additionalProperties": False,
            "properties": {
                "index": {"type": "integer", "minimum": 1, "maximum": 4294967295},
                "type": {"type": "string", "minLength": 1, "maxLength": 128},
                "data": {
                    "oneOf": [
                        {"type": "string", "maxLength": 255},
                        {
                            "type": "object",
                            "required": ["value"],
                            "additionalProperties": False,
                            "properties": {
                                "format": {"type": "string", "enum": ["string", "base64", "hex", "admin", "vlist"]},
                                "value": {},
                            },
                        },
                    ]
                },
                "ttl": {"type": "integer", "minimum": 0, "maximum": 4294967295},
                "ttlType": {"type": "integer", "enum": [0, 1]},
                "timestamp": {"type": "string", "description": "ignored: the node stamps the write time"},
                "permissions": {"type": "string", "pattern": "^[01]{4}$"},
                "references": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["handle", "index"],
                        "properties": {"handle": {"type": "string"}, "index": {"type": "integer", "minimum": 1}},
                    },
                },
            },
        },
        "HandleApiWriteResult": {
            "type": "object",
            "required": ["responseCode", "handle"],
            "properties": {"responseCode": {"type": "integer", "const": 1}, "handle": {"type": "string"}},
        },
        "HandleApiList": {
            "type": "object",
            "required": ["responseCode", "prefix", "totalCount", "handles"],
            "properties": {
                "responseCode": {"type": "integer", "const": 1},
                "prefix": {"type": "string"},
                "totalCount": {"type": "integer", "minimum": 0},
                "handles": {"type": "array", "items": {"type": "string"}},
            },
        },
        "HandleApiSession": {
            "type": "object",
            "required": ["sessionId", "authenticated", "expires"],
            "properties": {
                "sessionId": {"type": "string"},
                "authenticated": {"type": "boolean"},
                "expires": {"type": "string", "format": "date-time"},
            },
        },
    }
}

_SECURITY = [{"basic": []}, {"bearer": []}, {"handleSession": []}]
_SECURITY_OPTIONAL = [{}, *_SECURITY]
_HANDLE = {
    "name": "handle",
    "in": "path",
    "required": True,
    "description": "prefix/suffix (the '/' stays unencoded)",
    "schema": {"type": "string", "minLength": 1},
    "example": "88.118.8/DEMO-000001",
}


def _query(name: str, schema: dict[str, Any], description: str, *, repeat: bool = False) -> dict[str, Any]:
    if repeat:
        schema = {"type": "array", "items": schema}
    out: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
    if repeat:
        out["style"], out["explode"] = "form", True
    return out


_BOOL = {"type": "string", "enum": ["true", "false"]}
_PUT_BODY = {
    "oneOf": [
        {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/HandleApiValueInput"}},
        {
            "type": "object",
            "required": ["values"],
            "additionalProperties": False,
            "properties": {
                "handle": {"type": "string"},
                "values": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/components/schemas/HandleApiValueInput"},
                },
            },
        },
        {"$ref": "#/components/schemas/HandleApiValueInput"},
    ]
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/handles/{handle}": {
        "get": {
            "operationId": "handleGet",
            "tags": ["Handle.Net REST"],
            "summary": "Resolve a handle: the values the caller may read",
            "security": _SECURITY_OPTIONAL,
            "parameters": [
                _HANDLE,
                _query("index", {"type": "integer", "minimum": 1}, "only these indexes", repeat=True),
                _query("type", {"type": "string"}, "only these types ('A.' matches 'A.x')", repeat=True),
                _query("auth", _BOOL, "accepted; every answer is authoritative"),
                _query("publicOnly", _BOOL, "only public-readable values"),
            ],
            "responses": {
                "200": _json_of({"$ref": "#/components/schemas/HandleApiRecord"}, "the values (responseCode 1 or 200)"),
                **_errors(400, 403, 404, 414, 500),
            },
        },
        "put": {
            "operationId": "handlePut",
            "tags": ["Handle.Net REST"],
            "summary": "Create or replace a handle, or set some of its values (index=)",
            "security": _SECURITY,
            "parameters": [
                _HANDLE,
                _query(
                    "index", {"type": "string", "pattern": "^([1-9][0-9]{0,9}|various)$"}, "values to set", repeat=True
                ),
                _query("overwrite", _BOOL, "default true; false gives 409 if the handle or a value exists"),
                _query("mintNewSuffix", _BOOL, "append a new UUID to the given handle and create it"),
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _PUT_BODY}}},
            "responses": {
                "200": _json_of({"$ref": "#/components/schemas/HandleApiWriteResult"}, "replaced or modified"),
                "201": _json_of({"$ref": "#/components/schemas/HandleApiWriteResult"}, "created"),
                **_errors(400, 401, 403, 404, 409, 413, 414, 500, 503),
            },
        },
        "delete": {
            "operationId": "handleDelete",
            "tags": ["Handle.Net REST"],
            "summary": "Delete a handle, or with index= some of its values",
            "security": _SECURITY,
            "parameters": [
                _HANDLE,
                _query("index", {"type": "integer", "minimum": 1}, "values to remove", repeat=True),
            ],
            "responses": {
                "200": _json_of({"$ref": "#/components/schemas/HandleApiWriteResult"}, "deleted"),
                **_errors(400, 401, 403, 404, 414, 500, 503),
            },
        },
    },
    "/api/handles": {
        "get": {
            "operationId": "handleList",
            "tags": ["Handle.Net REST"],
            "summary": "List the live handles under a prefix, one page at a time",
            "security": _SECURITY,
            "parameters": [
                {"name": "prefix", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1}},
                _query("page", {"type": "integer", "minimum": 0}, "zero-based page"),
                _query(
                    "pageSize",
                    {"type": "integer", "minimum": 0, "maximum": 10000},
                    f"default {DEFAULT_PAGE_SIZE}; 0 gives the count only",
                ),
            ],
            "responses": {
                "200": _json_of({"$ref": "#/components/schemas/HandleApiList"}, "one page of handles"),
                **_errors(400, 401, 403, 414, 500),
            },
        }
    },
    "/api/sessions": {
        "post": {
            "operationId": "sessionOpen",
            "tags": ["Handle.Net REST"],
            "summary": "Open a session for the authenticated caller",
            "security": _SECURITY,
            "responses": {
                "201": _json_of({"$ref": "#/components/schemas/HandleApiSession"}, "the session"),
                **_errors(401, 403, 413, 414, 500, 503),
            },
        }
    },
    "/api/sessions/this": {
        "get": {
            "operationId": "sessionThis",
            "tags": ["Handle.Net REST"],
            "summary": "The caller's session",
            "security": [{"handleSession": []}],
            "responses": {
                "200": _json_of({"$ref": "#/components/schemas/HandleApiSession"}, "open"),
                **_errors(401, 403, 414, 500),
            },
        },
        "delete": {
            "operationId": "sessionClose",
            "tags": ["Handle.Net REST"],
            "summary": "Close the caller's session",
            "security": [{"handleSession": []}],
            "responses": {
                "200": _json_of(_ERROR, "closed (responseCode 1)"),
                **_errors(401, 403, 414, 500, 503),
            },
        },
    },
}
