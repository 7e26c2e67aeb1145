"""The console's own static files (CSS, JavaScript) under ``/console/static/``: no asset comes from the internet."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from pathlib import Path

from aiohttp import web

__all__ = ["STATIC", "setup", "url"]

STATIC = Path(__file__).parent / "static"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(?:css|js|svg|png|ico)")
_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
_CACHE: dict[str, tuple[bytes, str, str]] = {}  # name -> (body, content type, etag); files do not change at run time


def _load(name: str) -> tuple[bytes, str, str] | None:
    if name not in _CACHE:
        path = STATIC / name
        if not _NAME.fullmatch(name) or not path.is_file():
            return None
        body = path.read_bytes()
        kind = _TYPES.get(path.suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        _CACHE[name] = (body, kind, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return _CACHE[name]


def url(name: str) -> str:
    """The URL of a static file, with its content hash as a cache-busting query."""
    found = _load(name)
    return f"/console/static/{name}" + (f"?v={found[2][1:9]}" if found else "")


async def _serve(request: web.Request) -> web.Response:
    found = _load(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    body, kind, etag = found
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=body, content_type=kind, charset="utf-8" if kind.startswith("text/") else None, headers=headers
    )


def setup(app: web.Application) -> None:
    """``GET /console/static/{name}``: files of ``console/static/`` (others add theirs, e.g. ``static/upload.js``)."""
    app.router.add_get("/console/static/{name}", _serve)
