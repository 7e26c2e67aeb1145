"""Handle response codes -> HTTP status and JSON error bodies: the one mapping table of the HTTP edge."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from idnode.registry.errors import HandleError

__all__ = ["error_response", "http_status", "json_response", "status_of"]

# DOMAIN.md section 4: 1 -> 200/201; 2 -> 500; 100 -> 404; 101 -> 409; 102 -> 400;
# 200 -> 200 on resolve, else 400; 201 -> 409; 202 -> 400; 301 -> 400; 402 -> 401; other 40x -> 403.
# 302 (a write to a read replica, sync/README.md) -> 409: the node's state, not the request, is the
# problem, and unlike 503 it does not make a balancer take the replica out of rotation.
_STATUS = {1: 200, 2: 500, 3: 503, 4: 400, 5: 400, 6: 400, 100: 404, 101: 409, 102: 400, 200: 400, 201: 409}
_STATUS |= {202: 400, 300: 400, 301: 400, 302: 409, 303: 400, 402: 401}


def http_status(code: int, resolving: bool = False) -> int:
    """The HTTP status of a Handle response code (``resolving``: code 200 on a GET is 200)."""
    if code == 200 and resolving:
        return 200
    if code in _STATUS:
        return _STATUS[code]
    if 400 <= code < 500:
        return 403
    return 500


def status_of(exc: HandleError, resolving: bool = False) -> int:
    """The HTTP status of a typed error: its class's own (StorageFull: 507 Insufficient Storage), else its code's."""
    return getattr(exc, "http_status", None) or http_status(exc.code, resolving)


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response (UTF-8, non-ASCII kept as is: Chinese product names stay readable)."""
    import json

    return web.Response(
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(code: int, message: str, handle: str = "", status: int | None = None) -> web.Response:
    """``{"responseCode": code, "handle": handle, "message": message}`` with the mapped status."""
    body: dict[str, Any] = {"responseCode": code}
    if handle:
        body["handle"] = handle
    body["message"] = message
    return json_response(body, status or http_status(code))


def from_handle_error(exc: HandleError) -> web.Response:
    return error_response(exc.code, exc.message, getattr(exc, "handle", "") or "", status=status_of(exc))
