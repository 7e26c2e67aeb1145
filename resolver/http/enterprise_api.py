"""The enterprise API of Chinese secondary nodes (``/identity/token``, ``/identityv2/...``) over the registry.

Names and shapes follow the operators' public docs (DOMAIN.md section 5), so
enterprise tools port easily. Every answer is a JSON envelope
``{"status", "code", "message"[, "data"][, "handle"]}``:

- ``status``: 1 ok, -1 busy or failed inside the node (retry), -2 the request
  was refused (validation, exists, not found, no permission, bad credentials);
- ``code``: the Handle response code (DOMAIN.md section 3: 1 success, 100
  handle not found, 101 handle already exists, 102 invalid handle, 202
  invalid value, 401 insufficient permissions, ...; 4 for a request that does
  not have the documented shape);
- ``message``: what happened, in words.

HTTP status (one table, :data:`_HTTP_OF_CODE`): 200 whenever the request was
well formed and the caller may make it, whatever the business outcome
(``status`` 1 or -2; batches report per item); 400 for a request that does
not match its documented schema (not JSON, unknown field, wrong type, a
batch of more than 2000 items) — nothing is written; 401 with
``WWW-Authenticate: Bearer`` when credentials are needed or wrong; 403 when
the caller may not do this (another enterprise's prefix, an auditor
writing); 500/503 with ``status`` -1 when the node failed or its writer is
unreachable.

Authentication: ``Authorization: Bearer <idnode credential>`` (the
``idn1.<id>.<secret>`` tokens of ``idnode token create`` / gRPC
CreateToken). ``POST /identity/token`` checks a credential and returns it as
the bearer token: idnode's tokens do not expire (they live until revoked), so
there is no short-lived token to mint. The registry decides who may read and
write what; this module only maps its typed errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from idnode import _fastpath
from idnode.registry import auth, templates
from idnode.registry.errors import AuthenticationFailed, HandleError, InvalidValue
from idnode.registry.model import MAX_BATCH, UPDATE_MODES, IdentifierUpdate, IdentifierWrite, Record, WriteOutcome
from idnode.registry.values import (
    DEFAULT_PERMISSIONS,
    DEFAULT_TTL,
    FORMATS,
    MAX_INDEX,
    PERM_ADMIN_READ,
    PERM_ADMIN_WRITE,
    TEMPLATE_VERSION_INDEX,
    Value,
    permissions_from_str,
    permissions_to_str,
)
from idnode.resolver.http._shape import ShapeError, check
from idnode.resolver.http.auth import principal_of
from idnode.resolver.http.errors import json_response
from idnode.resolver.http.keys import REGISTRY, UNREACHABLE_ANSWERS

__all__ = ["OPENAPI_PATHS", "decode_create", "setup"]

log = logging.getLogger(__name__)

OK, BUSY, REFUSED = 1, -1, -2
# Handle response code -> HTTP status; every other code answers 200 with status -2.
_HTTP_OF_CODE = {2: 500, 3: 503, 302: 409, 400: 403, 401: 403, 402: 401, 403: 401}
_AUTH_WORDS = {"public": DEFAULT_PERMISSIONS, "private": PERM_ADMIN_READ | PERM_ADMIN_WRITE}

# -- request schemas (also the OpenAPI document's) --------------------------------

_HANDLE = {"type": "string", "minLength": 1, "description": "prefix/suffix, e.g. 88.118.8/JXDY2106023"}
_VALUE_IN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["index", "type", "data"],
    "properties": {
        "index": {"type": "integer", "description": f"1 to {MAX_INDEX}; {TEMPLATE_VERSION_INDEX} is reserved"},
        "type": {"type": "string", "description": "the value type: a template item name, URL, EMAIL, HS_ADMIN, ..."},
        "data": {
            "oneOf": [
                {"type": "string", "description": "text (format string)"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["value"],
                    "properties": {
                        "format": {"enum": list(FORMATS), "description": "default string"},
                        "value": {"description": "text; base64 or hex text; an admin object; a vlist array"},
                    },
                },
            ]
        },
        "auth": {
            "type": "string",
            "pattern": "^(public|private|[01]{4})$",
            "description": "who may read and write it: public (1110, the default), private (1100: the owner, "
            "the node admin and auditors), or the Handle permission bits admin read, admin write, "
            "public read, public write",
        },
        "ttl": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_INDEX,
            "description": f"seconds, default {DEFAULT_TTL}",
        },
    },
}
_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["handle", "value"],
    "properties": {
        "handle": _HANDLE,
        "prefix": {"type": "string", "description": "optional; must be the handle's prefix"},
        "templateVersion": {"type": "string", "description": "a template version of the prefix to check against"},
        "value": {"type": "array", "items": _VALUE_IN},
    },
}
_UPDATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["handle"],
    "properties": {
        "handle": _HANDLE,
        "prefix": {"type": "string", "description": "optional; must be the handle's prefix"},
        "templateVersion": {"type": "string", "description": "a new template version; absent keeps the current"},
        "mode": {
            "enum": list(UPDATE_MODES),
            "description": "replace (default): value becomes every value; add / modify: the values given by "
            "index; remove: the indexes given",
        },
        "value": {"type": "array", "items": _VALUE_IN},
        "indexes": {"type": "array", "items": {"type": "integer"}, "description": "for mode remove"},
    },
}
_DELETE = {"type": "object", "additionalProperties": False, "required": ["handle"], "properties": {"handle": _HANDLE}}
_TOKEN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["credential"],
    "properties": {"credential": {"type": "string", "minLength": 1, "description": "idn1.<token id>.<secret>"}},
}
_TEMPLATE_ITEM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "description": "the value type it governs"},
        "idType": {"type": "string"},
        "required": {"type": "boolean"},
        "index": {"type": "integer", "description": "0 (default): any index"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "type": {"enum": list(templates.METADATA_TYPES)},
                "minLength": {"type": "integer"},
                "maxLength": {"type": "integer", "description": "0: no maximum"},
            },
        },
    },
}
_TEMPLATE_IN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prefix", "version", "items"],
    "properties": {
        "prefix": {"type": "string"},
        "version": {"type": "string", "description": "1 to 32 of A-Z a-z 0-9 . _ -"},
        "industryCode": {"type": "string", "description": "GB/T 4754 industry code"},
        "carrierType": {"type": "string"},
        "description": {"type": "string"},
        "items": {"type": "array", "items": _TEMPLATE_ITEM},
        "created": {"type": "integer", "description": "ignored (the node sets it)"},
    },
}


def _batch(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "maxItems": MAX_BATCH, "items": item}


_QUERY_HANDLE = {"type": "string", "minLength": 1}
_QUERY_PREFIX = {"type": "string", "minLength": 1}
_QUERY_VERSION = {"type": "string", "minLength": 1}

# -- answers --------------------------------------------------------------------


def _answer(
    status: int, code: int, message: str, data: Any = None, *, http: int = 200, handle: str = ""
) -> web.Response:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if data is not None:
        body["data"] = data
    if handle:
        body["handle"] = handle
    headers = {}
    if http == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="idnode"'
    elif http == 503:
        headers["Retry-After"] = "1"
    return json_response(body, status=http, headers=headers)


def _ok(data: Any, message: str = "success") -> web.Response:
    return _answer(OK, 1, message or "success", data)


def _status_of(code: int) -> int:
    return OK if code == 1 else BUSY if code in (2, 3) else REFUSED


def _refused(exc: HandleError) -> web.Response:
    """The one mapping of a typed error to this API's answer."""
    http = 400 if isinstance(exc, ShapeError) else getattr(exc, "http_status", None) or _HTTP_OF_CODE.get(exc.code, 200)
    return _answer(_status_of(exc.code), exc.code, exc.message, http=http, handle=exc.handle)


def writer_unreachable(message: str) -> web.Response:
    """What a prefork worker answers for this API when it cannot reach the writer process."""
    return _answer(BUSY, 3, message, http=503)


Handler = Callable[[web.Request], Awaitable[Any]]


def _endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Run a handler; a typed error becomes the mapped answer, anything else -1/500 and a log line."""

    async def run(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except HandleError as exc:
            return _refused(exc)
        except web.HTTPException:
            raise  # 413 from the body limit: the server's middleware answers
        except Exception:
            log.exception("enterprise API %s %s failed", request.method, request.path)
            return _answer(BUSY, 2, "internal server error", http=500)

    run.__name__ = run.__qualname__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


async def _body(request: web.Request, schema: dict[str, Any]) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise ShapeError("the request body is missing")
    try:
        decoded = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ShapeError(f"the request body is not JSON: {exc}") from None
    return check(schema, decoded)


def _query(request: web.Request, name: str, schema: dict[str, Any], required: bool = True) -> str:
    if name not in request.query:
        if required:
            raise ShapeError(f"query parameter {name} is missing")
        return ""
    return check(schema, request.query[name], f"query parameter {name}")


def _writer(request: web.Request) -> Any:
    """The caller's principal; anonymous callers are refused (401) before the body is read."""
    principal = principal_of(request)
    auth.require_authenticated(principal)
    return principal


# -- JSON <-> registry model ----------------------------------------------------


def _value_in(obj: dict[str, Any], handle: str) -> Value:
    words = obj.get("auth", "public")
    permissions = _AUTH_WORDS.get(words)
    try:
        if permissions is None:
            permissions = permissions_from_str(words, 4, f"value {obj['index']} auth")
        return Value.from_json(
            {
                "index": obj["index"],
                "type": obj["type"],
                "data": obj["data"],
                "ttl": obj.get("ttl", DEFAULT_TTL),
                "permissions": permissions,
            }
        )
    except HandleError as exc:
        exc.handle = exc.handle or handle
        raise


def _values_in(obj: dict[str, Any]) -> tuple[Value, ...]:
    handle = obj["handle"]
    prefix = obj.get("prefix")
    if prefix is not None and _fastpath.parse_prefix(prefix) != _fastpath.parse_handle(handle)[0]:
        raise InvalidValue(f"prefix {prefix} is not the prefix of handle {handle}", handle=handle)
    return tuple(_value_in(v, handle) for v in obj.get("value", ()))


def _write_in(obj: dict[str, Any]) -> IdentifierWrite:
    return IdentifierWrite(obj["handle"], _values_in(obj), obj.get("templateVersion", ""))


def decode_create(body: Any) -> IdentifierWrite:
    """One create body (``POST /identityv2/data/create``'s JSON, decoded) as a registry write; the console's bulk
    upload reads JSONL files with it.

    Raises:
        ShapeError (code 4): not the documented shape. HandleError: a value the registry cannot hold.
    """
    return _write_in(check(_CREATE, body))


def _update_in(obj: dict[str, Any]) -> IdentifierUpdate:
    return IdentifierUpdate(
        obj["handle"],
        obj.get("mode", "replace"),
        _values_in(obj),
        tuple(obj.get("indexes", ())),
        obj.get("templateVersion", ""),
    )


def _or_error(decode: Callable[[dict[str, Any]], Any], obj: dict[str, Any]) -> Any:
    """The decoded batch item, or the HandleError reported in its place."""
    try:
        return decode(obj)
    except HandleError as exc:
        exc.handle = exc.handle or obj["handle"]
        return exc


def _value_out(v: Value) -> dict[str, Any]:
    return {
        "index": v.index,
        "type": v.type,
        "data": v.to_json()["data"],
        "auth": permissions_to_str(v.permissions, 4),
        "ttl": v.ttl,
    }


def _detail_out(record: Record) -> dict[str, Any]:
    return {
        "prefix": record.handle.partition("/")[0],
        "handle": record.handle,
        "templateVersion": record.template_version,
        "value": [_value_out(v) for v in record.values if v.index != TEMPLATE_VERSION_INDEX],
    }


def _batch_out(outcomes: list[WriteOutcome]) -> web.Response:
    items = [{"handle": o.handle, "code": o.code, "msg": o.message or "success"} for o in outcomes]
    failed = [o for o in outcomes if o.code != 1]
    if not failed:
        return _ok(items)
    status = BUSY if any(_status_of(o.code) == BUSY for o in failed) else REFUSED
    return _answer(status, failed[0].code, f"{len(failed)} of {len(outcomes)} items failed; see data", items)


# -- handlers ---------------------------------------------------------------------


@_endpoint
async def token(request: web.Request) -> web.Response:
    """POST /identity/token: check a credential; it is the bearer token."""
    credential = (await _body(request, _TOKEN))["credential"]
    registry = request.app[REGISTRY]
    principal = registry.authenticate(credential)
    if principal.is_anonymous:
        raise AuthenticationFailed("empty credential")
    role, credit_code, prefixes, _, token_id = registry.whoami(principal)
    return _ok(
        {
            "token": credential,
            "tokenType": "Bearer",
            "expiresIn": 0,
            "tokenId": token_id,
            "role": role,
            "creditCode": credit_code,
            "prefixes": list(prefixes),
        }
    )


@_endpoint
async def detail(request: web.Request) -> web.Response:
    """GET /identityv2/data/detail?handle=: the values the caller may read."""
    principal = principal_of(request)
    handle = _query(request, "handle", _QUERY_HANDLE)
    return _ok(_detail_out(request.app[REGISTRY].get_record(principal, handle)))


@_endpoint
async def create(request: web.Request) -> web.Response:
    """POST /identityv2/data: create one identifier; an identical repeat succeeds."""
    principal = _writer(request)
    obj = await _body(request, _CREATE)
    outcome = await request.app[REGISTRY].create(principal, _write_in(obj))
    return _ok({"handle": outcome.handle, "created": outcome.created}, outcome.message)


@_endpoint
async def update(request: web.Request) -> web.Response:
    """PUT /identityv2/data: update one identifier."""
    principal = _writer(request)
    obj = await _body(request, _UPDATE)
    outcome = await request.app[REGISTRY].update(principal, _update_in(obj))
    return _ok({"handle": outcome.handle})


@_endpoint
async def delete(request: web.Request) -> web.Response:
    """DELETE /identityv2/data: delete one identifier (it resolves as deleted afterwards)."""
    principal = _writer(request)
    obj = await _body(request, _DELETE)
    outcome = await request.app[REGISTRY].delete(principal, obj["handle"])
    return _ok({"handle": outcome.handle})


@_endpoint
async def batch_create(request: web.Request) -> web.Response:
    """POST /identityv2/data/batchCreate: at most 2000 creates, each on its own."""
    principal = _writer(request)
    items = [_or_error(_write_in, obj) for obj in await _body(request, _batch(_CREATE))]
    return _batch_out(await request.app[REGISTRY].batch_create(principal, items))


@_endpoint
async def batch_update(request: web.Request) -> web.Response:
    """POST /identityv2/data/batchUpdate: at most 2000 updates, each on its own."""
    principal = _writer(request)
    items = [_or_error(_update_in, obj) for obj in await _body(request, _batch(_UPDATE))]
    return _batch_out(await request.app[REGISTRY].batch_update(principal, items))


@_endpoint
async def batch_delete(request: web.Request) -> web.Response:
    """POST /identityv2/data/batchDelete: at most 2000 deletes, each on its own."""
    principal = _writer(request)
    handles = [obj["handle"] for obj in await _body(request, _batch(_DELETE))]
    return _batch_out(await request.app[REGISTRY].batch_delete(principal, handles))


@_endpoint
async def get_template(request: web.Request) -> web.Response:
    """GET /identityv2/template?prefix=&version=: one version, or the latest without version."""
    principal = principal_of(request)
    prefix = _query(request, "prefix", _QUERY_PREFIX)
    version = _query(request, "version", _QUERY_VERSION, required=False)
    return _ok(templates.template_to_json(request.app[REGISTRY].get_template(principal, prefix, version)))


@_endpoint
async def put_template(request: web.Request) -> web.Response:
    """POST /identityv2/template: publish a template version (versions are immutable)."""
    principal = _writer(request)
    obj = await _body(request, _TEMPLATE_IN)
    obj.pop("created", None)
    stored = await request.app[REGISTRY].put_template(principal, templates.template_from_json(obj))
    return _ok(templates.template_to_json(stored))


@_endpoint
async def delete_template(request: web.Request) -> web.Response:
    """DELETE /identityv2/template?prefix=&version=: delete one template version."""
    principal = _writer(request)
    prefix = _query(request, "prefix", _QUERY_PREFIX)
    version = _query(request, "version", _QUERY_VERSION)
    await request.app[REGISTRY].delete_template(principal, prefix, version)
    return _ok({"prefix": prefix, "version": version})


ROUTES: tuple[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]], ...] = (
    ("POST", "/identity/token", token),
    ("GET", "/identityv2/data/detail", detail),
    ("POST", "/identityv2/data", create),
    ("PUT", "/identityv2/data", update),
    ("DELETE", "/identityv2/data", delete),
    ("POST", "/identityv2/data/batchCreate", batch_create),
    ("POST", "/identityv2/data/batchUpdate", batch_update),
    ("POST", "/identityv2/data/batchDelete", batch_delete),
    ("GET", "/identityv2/template", get_template),
    ("POST", "/identityv2/template", put_template),
    ("DELETE", "/identityv2/template", delete_template),
)


def setup(app: web.Application) -> None:
    """Add the enterprise API's routes to ``app`` and its answer for an unreachable writer."""
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    for start in ("/identity/", "/identityv2/"):
        app[UNREACHABLE_ANSWERS][start] = writer_unreachable


# -- OpenAPI ----------------------------------------------------------------------

_ENVELOPE_FIELDS = {
    "status": {"type": "integer", "enum": [OK, BUSY, REFUSED], "description": "1 ok, -1 busy, -2 refused"},
    "code": {"type": "integer", "description": "Handle response code (1 success)"},
    "message": {"type": "string"},
    "handle": {"type": "string", "description": "the handle an error is about"},
}


def _envelope(data: dict[str, Any] | None, statuses: list[int], description: str) -> dict[str, Any]:
    properties: dict[str, Any] = dict(_ENVELOPE_FIELDS)
    properties["status"] = dict(properties["status"], enum=statuses)
    if data is not None:
        properties["data"] = data
    schema = {"type": "object", "required": ["status", "code", "message"], "properties": properties}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_HANDLE_ERROR = {
    "description": "request body over 8 MiB (the server's limit, Handle-shaped answer)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["responseCode", "message"],
                "properties": {"responseCode": {"type": "integer"}, "message": {"type": "string"}},
            }
        }
    },
}
_VALUE_OUT = {
    "type": "object",
    "required": ["index", "type", "data", "auth", "ttl"],
    "properties": {
        "index": {"type": "integer"},
        "type": {"type": "string"},
        "data": {
            "type": "object",
            "required": ["format", "value"],
            "properties": {"format": {"enum": list(FORMATS)}, "value": {}},
        },
        "auth": {"type": "string", "description": "Handle permission bits: admin read/write, public read/write"},
        "ttl": {"type": "integer"},
    },
}
_DETAIL_OUT = {
    "type": "object",
    "required": ["prefix", "handle", "templateVersion", "value"],
    "properties": {
        "prefix": {"type": "string"},
        "handle": {"type": "string"},
        "templateVersion": {"type": "string", "description": "empty when none"},
        "value": {"type": "array", "items": _VALUE_OUT},
    },
}
_TOKEN_OUT = {
    "type": "object",
    "required": ["token", "tokenType", "expiresIn", "tokenId", "role", "creditCode", "prefixes"],
    "properties": {
        "token": {"type": "string", "description": "the credential itself: send it as Authorization: Bearer"},
        "tokenType": {"enum": ["Bearer"]},
        "expiresIn": {"type": "integer", "description": "0: valid until revoked"},
        "tokenId": {"type": "string"},
        "role": {"enum": list(auth.ROLES)},
        "creditCode": {"type": "string", "description": "empty unless role is enterprise"},
        "prefixes": {"type": "array", "items": {"type": "string"}},
    },
}
_WRITTEN_OUT = {
    "type": "object",
    "required": ["handle"],
    "properties": {
        "handle": {"type": "string", "description": "normalised"},
        "created": {"type": "boolean", "description": "create only: false for an identical repeat"},
    },
}
_BATCH_OUT = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["handle", "code", "msg"],
        "properties": {"handle": {"type": "string"}, "code": {"type": "integer"}, "msg": {"type": "string"}},
    },
}
_TEMPLATE_OUT = {
    "type": "object",
    "required": ["prefix", "version", "industryCode", "carrierType", "description", "items", "created"],
    "properties": {
        "prefix": {"type": "string"},
        "version": {"type": "string"},
        "industryCode": {"type": "string"},
        "carrierType": {"type": "string"},
        "description": {"type": "string"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "idType", "required", "index", "metadata"],
                "properties": {
                    "name": {"type": "string"},
                    "idType": {"type": "string"},
                    "required": {"type": "boolean"},
                    "index": {"type": "integer"},
                    "metadata": {
                        "type": "object",
                        "required": ["type", "minLength", "maxLength"],
                        "properties": {
                            "type": {"type": "string"},
                            "minLength": {"type": "integer"},
                            "maxLength": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "created": {"type": "integer", "description": "seconds since 1970 UTC"},
    },
}
_TEMPLATE_KEY_OUT = {
    "type": "object",
    "required": ["prefix", "version"],
    "properties": {"prefix": {"type": "string"}, "version": {"type": "string"}},
}


def _responses(data: dict[str, Any], *, writes: bool, needs_auth: bool = True, body: bool = True) -> dict[str, Any]:
    out = {
        "200": _envelope(data, [OK, REFUSED], "processed: status 1, or -2 with the Handle code of the refusal"),
        "400": _envelope(None, [REFUSED], "the request does not match its schema (code 4); nothing was done"),
        "401": _envelope(None, [REFUSED], "credentials needed (code 402) or wrong, unknown or revoked (code 403)"),
    }
    out["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    if needs_auth:
        out["403"] = _envelope(None, [REFUSED], "the caller may not do this (code 401): another enterprise's prefix")
    if writes:
        out["500"] = _envelope(None, [BUSY], "the node failed to write (code 2); retry later")
        out["503"] = _envelope(None, [BUSY], "the node's writer process is unreachable (code 3); retry")
        out["503"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    if body:
        out["413"] = _HANDLE_ERROR
    return out


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, schema: dict[str, Any], description: str, required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


_TAG = ["enterprise API"]
_AUTH_NOTE = " Authorization: Bearer <idnode credential>."

OPENAPI_PATHS: dict[str, Any] = {
    "/identity/token": {
        "post": {
            "tags": _TAG,
            "summary": "Check a credential and get the bearer token",
            "description": "The token is the idnode credential itself (tokens do not expire; they are revoked). "
            "Also says who it is: role, credit code, prefixes.",
            "operationId": "enterpriseToken",
            "security": [{}],
            "requestBody": _json_body(_TOKEN, "the credential"),
            "responses": _responses(_TOKEN_OUT, writes=True, needs_auth=False),
        }
    },
    "/identityv2/data/detail": {
        "get": {
            "tags": _TAG,
            "summary": "An identifier's values that the caller may read",
            "description": "Anonymous callers and other enterprises see public values only." + _AUTH_NOTE,
            "operationId": "enterpriseDetail",
            "security": [{}, {"bearer": []}],
            "parameters": [_param("handle", _QUERY_HANDLE, "the identifier")],
            "responses": _responses(_DETAIL_OUT, writes=False, needs_auth=False, body=False),
        }
    },
    "/identityv2/data": {
        "post": {
            "tags": _TAG,
            "summary": "Create an identifier (an identical repeat succeeds with created false)",
            "description": "Code 101 when it exists with other values; 202 when a value breaks the template."
            + _AUTH_NOTE,
            "operationId": "enterpriseCreate",
            "security": [{"bearer": []}],
            "requestBody": _json_body(_CREATE, "the identifier"),
            "responses": _responses(_WRITTEN_OUT, writes=True),
        },
        "put": {
            "tags": _TAG,
            "summary": "Update an identifier",
            "description": "Code 100 when it does not exist." + _AUTH_NOTE,
            "operationId": "enterpriseUpdate",
            "security": [{"bearer": []}],
            "requestBody": _json_body(_UPDATE, "the update"),
            "responses": _responses(_WRITTEN_OUT, writes=True),
        },
        "delete": {
            "tags": _TAG,
            "summary": "Delete an identifier",
            "description": "Code 100 when it does not exist or was deleted." + _AUTH_NOTE,
            "operationId": "enterpriseDelete",
            "security": [{"bearer": []}],
            "requestBody": _json_body(_DELETE, "which identifier"),
            "responses": _responses(_WRITTEN_OUT, writes=True),
        },
    },
    "/identityv2/data/batchCreate": {
        "post": {
            "tags": _TAG,
            "summary": f"Create at most {MAX_BATCH} identifiers, each on its own",
            "description": "data holds one {handle, code, msg} per item, in order; status 1 when every item "
            "succeeded, else -2 (or -1 when an item failed inside the node)." + _AUTH_NOTE,
            "operationId": "enterpriseBatchCreate",
            "security": [{"bearer": []}],
            "requestBody": _json_body(_batch(_CREATE), "the identifiers"),
            "responses": _responses(_BATCH_OUT, writes=True),
        }
    },
    "/identityv2/data/batchUpdate": {
        "post": {
            "tags": _TAG,
            "summary": f"Update at most {MAX_BATCH} identifiers, each on its own",
            "description": "Per-item results as in batchCreate." + _AUTH_NOTE,
            "operationId": "enterpriseBatchUpdate",
            "security": [{"bearer": []}],
            "requestBody": _json_body(_batch(_UPDATE), "the updates"),
            "responses": _responses(_BATCH_OUT, writes=True),
        }
    },
    "/identityv2/data/batchDelete": {
        "post": {
            "tags": _TAG,
            "summary": f"Delete at most {MAX_BATCH} identifiers, each on its own",
            "description": "Per-item results as in batchCreate." + _AUTH_NOTE,
            "operationId": "enterpriseBatchDelete",
            "security": [{"bearer": []}],
            "requestBody": _json_body(_batch(_DELETE), "which identifiers"),
            "responses": _responses(_BATCH_OUT, writes=True),
        }
    },
    "/identityv2/template": {
        "get": {
            "tags": _TAG,
            "summary": "A metadata template version of a prefix (the latest without version)",
            "description": "Any authenticated caller." + _AUTH_NOTE,
            "operationId": "enterpriseGetTemplate",
            "security": [{"bearer": []}],
            "parameters": [
                _param("prefix", _QUERY_PREFIX, "the prefix"),
                _param("version", _QUERY_VERSION, "the version; absent: the latest", required=False),
            ],
            "responses": _responses(_TEMPLATE_OUT, writes=False, needs_auth=False, body=False),
        },
        "post": {
            "tags": _TAG,
            "summary": "Publish a metadata template version (immutable; an identical repeat succeeds)",
            "description": "The prefix's owner or the node admin. Code 101 when the version exists with "
            "other items." + _AUTH_NOTE,
            "operationId": "enterprisePutTemplate",
            "security": [{"bearer": []}],
            "requestBody": _json_body(_TEMPLATE_IN, "the template"),
            "responses": _responses(_TEMPLATE_OUT, writes=True),
        },
        "delete": {
            "tags": _TAG,
            "summary": "Delete a metadata template version",
            "description": "The prefix's owner or the node admin. Identifiers registered under it keep its "
            "name; their next update must name another version." + _AUTH_NOTE,
            "operationId": "enterpriseDeleteTemplate",
            "security": [{"bearer": []}],
            "parameters": [
                _param("prefix", _QUERY_PREFIX, "the prefix"),
                _param("version", _QUERY_VERSION, "the version"),
            ],
            "responses": _responses(_TEMPLATE_KEY_OUT, writes=True, body=False),
        },
    },
}
