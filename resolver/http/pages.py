"""The resolver pages: ``GET /{handle}`` redirects like the public Handle proxy, GS1 Digital Link ``/01/{gtin}``.

Anonymous and public values only, whatever credentials a request carries:
these pages are what a phone scanning a QR code or a browser following a
link sees. The decisions (which URL, HTML or JSON, GS1 keys) are in
``_links.py``, the markup in ``_html.py``; this module reads the registry
and answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from idnode.registry.auth import ANONYMOUS
from idnode.registry.errors import HandleError
from idnode.registry.model import Record
from idnode.resolver.http import _html, _links
from idnode.resolver.http.console import i18n
from idnode.resolver.http.console.web import LANG_COOKIE, remember_language
from idnode.resolver.http.errors import error_response, http_status, json_response
from idnode.resolver.http.keys import REGISTRY
from idnode.resolver.recursion import recursive_record

__all__ = ["MAX_LINKED", "MAX_SERIAL_SCAN", "OPENAPI_PATHS", "setup"]

MAX_LINKED = 20  # handles one GTIN shows with ?linkType=all
MAX_SERIAL_SCAN = 1000  # handles of one GTIN searched for an SGTIN with the serial of /01/{gtin}/21/{serial}
# Everything another route module owns, so the catch-all never answers for it (not even a 405).
_NOT_A_HANDLE = r"(?!(?:api|openapi\.json|healthz|readyz|console)(?:/|$)|identity)"
_CATCH_ALL = "/{handle:" + _NOT_A_HANDLE + ".+}"
_HTML_HEADERS = {
    "Content-Security-Policy": _html.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def setup(app: web.Application) -> None:
    """Register the GS1 Digital Link routes, then the catch-all ``/{handle}`` (it must stay last)."""
    app.router.add_get("/01/{gtin}", _digital_link)
    app.router.add_get("/01/{gtin}/21/{serial}", _digital_link)
    app.router.add_get(_CATCH_ALL, _handle_page)


def _record_json(record: Record) -> dict[str, Any]:
    return {"responseCode": 1, "handle": record.handle, "values": [v.to_json() for v in record.values]}


def _html_response(request: web.Request, render: Callable[[_html.Chrome], str], status: int = 200) -> web.Response:
    """The HTML page ``render(chrome)``: its frame in the language the console would choose (``?lang=``, the
    ``lang`` cookie, ``Accept-Language``), with the node's name and the query (kept by the language links); a
    language chosen by ``?lang=`` is remembered in the console's ``lang`` cookie."""
    lang, from_query = i18n.choose(
        request.query.get("lang"), request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language", "")
    )
    name = f"idnode {getattr(request.app[REGISTRY], 'node_prefix', '')}".strip()
    text = render(_html.Chrome(lang, name, tuple(request.query.items())))
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=_HTML_HEADERS)
    response.headers["Vary"] = "Accept, Accept-Language, Cookie"  # the same URL answers JSON or HTML, en or zh
    if from_query:
        remember_language(response, lang)
    return response


def _wants_json(request: web.Request) -> bool:
    return _links.prefers_json(request.headers.get("Accept", ""))


def _redirect(request: web.Request, url: str) -> web.Response:
    response = _html_response(request, lambda chrome: _html.redirect_page(url, chrome), 302)
    response.headers["Location"] = url
    return response


def _failure(request: web.Request, code: int, message: str, handle: str = "") -> web.Response:
    """A failed lookup: JSON (the error table's body and status) or an HTML page, by ``Accept``."""
    if _wants_json(request):
        return error_response(code, message, handle)
    status = http_status(code)
    title = "Not found" if status == 404 else "Cannot resolve"
    return _html_response(request, lambda chrome: _html.error_page(status, title, message, chrome), status)


def _show(
    request: web.Request, records: list[Record], title: str = "", extra: dict[str, Any] | None = None
) -> web.Response:
    if _wants_json(request):
        if len(records) == 1 and not title:
            return json_response(_record_json(records[0]))
        return json_response({"responseCode": 1, **(extra or {}), "handles": [_record_json(r) for r in records]})
    return _html_response(request, lambda chrome: _html.records_page(records, title, chrome))


async def _handle_page(request: web.Request) -> web.Response:
    """``GET /{handle}``: 302 to the first public URL value; the record with ``?noredirect`` or without one."""
    handle = request.match_info["handle"]
    recursed = None
    try:
        recursed = await recursive_record(request.app[REGISTRY], handle)
        if recursed is None:
            record = request.app[REGISTRY].get_record(ANONYMOUS, handle)
        else:  # a prefix this node does not serve: the owner's answer, via the top-level node
            record = Record(handle=recursed[0], values=recursed[1])
    except HandleError as exc:
        return _failure(request, exc.code, exc.message, getattr(exc, "handle", "") or "")
    response = None
    if "noredirect" not in request.query:
        url = _links.first_url(record.values)
        if url is not None:
            response = _redirect(request, url)
    if response is None:
        response = _show(request, [record])
    if recursed is not None:
        response.headers.update(recursed.headers)
    return response


async def _digital_link(request: web.Request) -> web.Response:
    """``GET /01/{gtin}[/21/{serial}]``: the identifiers holding this GTIN as a public GTIN/SGTIN value.

    With a serial, identifiers holding an SGTIN of that serial come first
    (all of this GTIN's when none does, as GS1 resolvers fall back to the
    GTIN). Without ``?linkType=all``: 302 to the first URL among them.
    """
    try:
        gtin14 = _links.gtin_of_path(request.match_info["gtin"])
    except _links.DigitalLinkError as exc:
        return error_response(102, str(exc), status=400)
    serial = request.match_info.get("serial")
    registry = request.app[REGISTRY]
    with registry.snapshot() as snap:
        handles = snap.find_gtin(gtin14, limit=MAX_SERIAL_SCAN if serial else MAX_LINKED)
    records: list[Record] = []
    for handle in handles:
        try:
            record = registry.get_record(ANONYMOUS, handle)
        except HandleError:  # deleted since the index was read
            continue
        if _links.matching_gtin_values(record.values, gtin14):  # a private GTIN value links nothing
            records.append(record)
    if serial:
        exact = [r for r in records if _links.serial_matches(r.values, gtin14, serial)]
        records = exact or records
    records = records[:MAX_LINKED]
    if not records:
        return _failure(request, 100, f"no identifier holds GTIN {gtin14}")
    if request.query.get("linkType") != "all":
        for record in records:
            url = _links.first_url(record.values)
            if url is not None:
                return _redirect(request, url)
    if len(records) == 1:
        return _show(request, records)
    return _show(request, records, f"GTIN {gtin14}", {"gtin": gtin14})


_ERROR = {"$ref": "#/components/schemas/Error"}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_REDIRECT = {
    "description": "Found: the first public URL value (lowest index of type URL or URL.*)",
    "headers": {"Location": {"schema": {"type": "string"}, "description": "the URL value"}},
    "content": _HTML,
}
_SHOWN = {
    "description": "the record: HTML for a browser, Handle REST JSON for Accept: application/json",
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/HandleRecord"},
                    {"$ref": "#/components/schemas/HandleRecordList"},
                ]
            }
        },
        **_HTML,
    },
}
_NOT_FOUND = {"description": "no such identifier", "content": {"application/json": {"schema": _ERROR}, **_HTML}}
_BAD = {"description": "invalid handle or GTIN", "content": {"application/json": {"schema": _ERROR}, **_HTML}}
_GTIN_PARAM = {
    "name": "gtin",
    "in": "path",
    "required": True,
    "description": "GTIN-8, -12, -13 or -14 with a valid check digit",
    "schema": {"type": "string"},
    "example": "06950000000019",
}
_LINK_TYPE = {
    "name": "linkType",
    "in": "query",
    "required": False,
    "description": "`all`: the linked identifiers' records, no redirect (other GS1 query attributes are ignored)",
    "schema": {"type": "string"},
}
_TAGS = ["resolver pages"]

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/01/{gtin}": {
        "get": {
            "operationId": "resolveGtin",
            "tags": _TAGS,
            "summary": "GS1 Digital Link: redirect to the URL of the identifier holding this GTIN",
            "parameters": [_GTIN_PARAM, _LINK_TYPE],
            "responses": {"200": _SHOWN, "302": _REDIRECT, "400": _BAD, "404": _NOT_FOUND},
        }
    },
    "/01/{gtin}/21/{serial}": {
        "get": {
            "operationId": "resolveSgtin",
            "tags": _TAGS,
            "summary": "GS1 Digital Link with a serial: the identifier holding this SGTIN (else this GTIN)",
            "parameters": [
                _GTIN_PARAM,
                {"name": "serial", "in": "path", "required": True, "schema": {"type": "string"}, "example": "1"},
                _LINK_TYPE,
            ],
            "responses": {"200": _SHOWN, "302": _REDIRECT, "400": _BAD, "404": _NOT_FOUND},
        }
    },
    "/{handle}": {
        "get": {
            "operationId": "resolveHandlePage",
            "tags": _TAGS,
            "summary": "Redirect to the handle's first public URL value, as the public Handle proxy does",
            "description": (
                "The handle keeps its '/' (`/88.118.8/DEMO-000001`). Without a public URL value, or with"
                " `?noredirect`, the record's public values: HTML, or JSON for `Accept: application/json`."
                " Paths under /api/, /identity, /openapi.json, /healthz and /readyz are never a handle."
            ),
            "parameters": [
                {
                    "name": "handle",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "example": "88.118.8/DEMO-000001",
                },
                {
                    "name": "noredirect",
                    "in": "query",
                    "required": False,
                    "allowEmptyValue": True,
                    "description": "present: show the record instead of redirecting",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {"200": _SHOWN, "302": _REDIRECT, "400": _BAD, "404": _NOT_FOUND},
        }
    },
}
