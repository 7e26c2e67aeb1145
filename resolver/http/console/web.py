"""The console framework: templates, the signed-in principal, roles, CSRF, flash messages, language, security headers.

Every console page goes through here:

- ``render(request, "area/name.html", **context)`` renders a template of
  ``console/templates/`` (Jinja2, autoescape on) into a ``text/html``
  response with the console's security headers (strict CSP, no framing,
  ``no-store``), in the request's language; the template context holds
  ``lang``, ``principal``, ``nav``, ``flashes``, ``node_name`` and the
  helpers ``_()`` and ``csrf_field()``.
- ``await signed_in(request)`` is the principal of the session cookie (None
  when anonymous); ``await require(request, *roles)`` returns it or sends an
  anonymous browser to the sign-in page (303) and answers a signed-in one
  whose role may not with the 403 page. The role check is only the page's
  choice of audience: every action still goes through the registry facade,
  which enforces the same authorization as the APIs.
- :func:`middleware` guards every non-GET under ``/console/``: the CSRF token
  (form field ``csrf_token`` or header ``X-CSRF-Token``) must be the HMAC of
  the session cookie's id; the sign-in form (no session yet) checks
  ``Sec-Fetch-Site``/``Origin`` instead. It also turns errors under
  ``/console/`` into HTML pages in the page's language.

Sessions are the registry's (``registry/_sessions.py``): the cookie holds the
session id, so any prefork worker checks it with one LMDB read, and revoking
the credential ends the console session too.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from idnode.registry.auth import Principal
from idnode.registry.errors import AuthenticationFailed, HandleError
from idnode.resolver.http.console import _static, i18n, problems
from idnode.resolver.http.errors import status_of
from idnode.resolver.http.keys import REGISTRY, SETTINGS

__all__ = [
    "BASE",
    "CONTENT_SECURITY_POLICY",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LANG_COOKIE",
    "SESSION_COOKIE",
    "NavItem",
    "add_nav",
    "clear_session_cookie",
    "csrf_token",
    "environment",
    "error_page",
    "flash",
    "gettext",
    "language",
    "middleware",
    "redirect",
    "remember_language",
    "render",
    "require",
    "session_cookie",
    "signed_in",
]

log = logging.getLogger(__name__)

BASE = "/console/"
SIGN_IN = BASE + "signin"
SESSION_COOKIE = "idnode_session"
LANG_COOKIE = "lang"
FLASH_COOKIE = "idnode_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LANG_COOKIE_AGE = 365 * 24 * 3600
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show private values and tokens
}
_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# computed once per request
_PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("idnode_console_principal", object)
_LANG: web.RequestKey[tuple[str, bool]] = web.RequestKey("idnode_console_lang", tuple)
_TEMPLATES = Path(__file__).parent / "templates"
_MAX_FLASH_BYTES = 1024

MESSAGES = {
    "Sign in": "登录",
    "Sign out": "退出登录",
    "Skip to content": "跳到正文",
    "Language": "语言",
    "Home": "首页",
    "Main navigation": "主导航",
    "Signed in as {role}": "当前身份：{role}",
    "Forbidden": "禁止访问",
    "Not found": "未找到",
    "Request failed": "请求失败",
    "Your role may not open this page.": "您的角色无权打开此页面。",
    "The form has expired or did not come from this console; reload the page and try again.": (
        "表单已过期或并非来自本控制台，请刷新页面后重试。"
    ),
    "This request did not come from this console.": "此请求并非来自本控制台。",
    "No such page.": "没有这个页面。",
    "Back to the console home": "返回控制台首页",
    "idnode web console": "idnode 网页控制台",
    "node-admin": "节点管理员",
    "enterprise": "企业",
    "auditor": "审计员",
}
i18n.register(MESSAGES)


@dataclasses.dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the console's navigation: shown to the given roles (all signed-in roles when empty)."""

    path: str
    label: str  # English key of the catalog
    roles: tuple[str, ...] = ()
    order: int = 100


_NAV: dict[str, NavItem] = {}


def add_nav(path: str, label: str, roles: Iterable[str] = (), order: int = 100) -> None:
    """Add (or replace) a navigation entry; each area calls this from its ``setup(app)``."""
    _NAV[path] = NavItem(path, label, tuple(roles), order)


def _nav_for(principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    shown = [n for n in _NAV.values() if not n.roles or principal.role in n.roles]
    return sorted(shown, key=lambda n: (n.order, n.path))


# -- language -------------------------------------------------------------------------


def language(request: web.Request) -> str:
    """The request's language (``en`` or ``zh``): ``?lang=``, else the ``lang`` cookie, else Accept-Language."""
    if _LANG not in request:
        lang, from_query = i18n.choose(
            request.query.get("lang"), request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language", "")
        )
        request[_LANG] = (lang, from_query)
    return request[_LANG][0]


def remember_language(response: web.StreamResponse, lang: str) -> None:
    """Set the ``lang`` cookie (a year, ``Path=/``, ``SameSite=Lax``) that the console and the public pages read."""
    response.set_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_AGE, path="/", samesite="Lax", httponly=True)


def gettext(request: web.Request, text: str, /, **fields: object) -> str:
    """``text`` (an English catalog key) in the request's language, ``{name}`` fields filled in."""
    return i18n.translate(language(request), text, **fields)


# -- sessions and principals ------------------------------------------------------------


def _registry(request: web.Request) -> Any:
    return request.app[REGISTRY]


def _secure(request: web.Request) -> bool:
    # Decided from settings: the worker -> writer hop is a Unix socket, never TLS, so request.secure would lie.
    return bool(getattr(request.app[SETTINGS], "tls_cert", None))


def _principal(request: web.Request) -> Principal | None:
    if _PRINCIPAL not in request:
        principal = None
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if session_id:
            try:
                principal = _registry(request).authenticate_session(session_id)
            except AuthenticationFailed:
                principal = None  # expired, closed or revoked: the same as never signed in
        request[_PRINCIPAL] = principal
    return request[_PRINCIPAL]


async def signed_in(request: web.Request) -> Principal | None:
    """The principal of the request's session cookie, or None (no cookie, or an expired/closed/revoked session)."""
    return _principal(request)


async def require(request: web.Request, *roles: str) -> Principal:
    """The signed-in principal, whose role is one of ``roles`` (any role when none are given).

    Raises:
        web.HTTPSeeOther: anonymous: to the sign-in page, coming back here after it (GET).
        web.HTTPForbidden: signed in with another role (the middleware renders the 403 page).
    """
    principal = _principal(request)
    if principal is None:
        target = request.path_qs if request.method == "GET" else BASE
        raise web.HTTPSeeOther(SIGN_IN + "?" + urllib.parse.urlencode({"next": target}))
    if roles and principal.role not in roles:
        raise web.HTTPForbidden(reason="Your role may not open this page.")
    return principal


def session_cookie(response: web.StreamResponse, request: web.Request, session_id: str, max_age: int) -> None:
    """Set the session cookie: HttpOnly, SameSite=Strict, Path=/console/, Secure when the node serves TLS."""
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=max_age,
        path=BASE,
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )


def clear_session_cookie(response: web.StreamResponse, request: web.Request) -> None:
    """Expire the session cookie in the browser (with the same attributes it was set with)."""
    response.del_cookie(SESSION_COOKIE, path=BASE, httponly=True, samesite="Strict", secure=_secure(request))


# -- CSRF -----------------------------------------------------------------------------


def csrf_token(session_id: str) -> str:
    """The CSRF token of a session: HMAC-SHA256(session id, "csrf"), hex. Only the session's holder can know it."""
    return hmac.new(session_id.encode("utf-8", "surrogatepass"), b"csrf", hashlib.sha256).hexdigest()


async def _csrf_ok(request: web.Request) -> bool:
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if not session_id:
        return False
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        given = (await request.post()).get(CSRF_FIELD)  # cached: the handler's request.post() reads it again
    return isinstance(given, str) and hmac.compare_digest(given, csrf_token(session_id))


def _same_origin(request: web.Request) -> bool:
    """A form posted without a session (sign-in): the browser says it comes from this site.

    Browsers send ``Sec-Fetch-Site`` (same-origin, or none when the user typed it); older ones ``Origin``.
    A request with neither comes from no browser, so no cross-site forgery is possible.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    scheme = "https" if _secure(request) else "http"
    return origin == f"{scheme}://{request.host}"


@web.middleware
async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """CSRF on every non-GET under ``/console/``; errors under ``/console/`` as HTML pages in the page's language."""
    path = request.path
    if not (path.startswith(BASE) or path == BASE[:-1]):
        return await handler(request)
    try:
        if request.method not in _SAFE_METHODS:
            if path == SIGN_IN:
                if not _same_origin(request):
                    return error_page(request, 403, "This request did not come from this console.")
            elif not await _csrf_ok(request):
                return error_page(
                    request,
                    403,
                    "The form has expired or did not come from this console; reload the page and try again.",
                )
        return await handler(request)
    except HandleError as exc:
        return error_page(request, status_of(exc), problems.explain(language(request), exc), translated=False)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            return error_page(request, 404, "No such page.")
        message = exc.reason if exc.reason in MESSAGES else ""
        return error_page(request, exc.status, message or exc.reason or "Request failed", translated=bool(message))
    except Exception:
        log.exception("console %s %s failed", request.method, path)
        return error_page(request, 500, "Request failed")


def error_page(request: web.Request, status: int, message: str, *, translated: bool = True) -> web.Response:
    """The console's error page: ``message`` (an English catalog key, or shown as is) with ``status``."""
    title = {403: "Forbidden", 404: "Not found"}.get(status, "Request failed")
    shown = gettext(request, message) if translated else message
    return render(request, "error.html", status=status, title=title, message=shown)


# -- flash messages -------------------------------------------------------------------------


def flash(response: web.StreamResponse, message: str, level: str = "info", /, **fields: str) -> None:
    """Show ``message`` (an English catalog key with ``{name}`` fields) on the next console page rendered.

    Kept in a short-lived cookie (not in one process's memory), so the next page may come from any worker.
    """
    payload = json.dumps({"m": message, "l": level, "f": fields}, ensure_ascii=False).encode()
    if len(payload) > _MAX_FLASH_BYTES:
        return
    value = base64.urlsafe_b64encode(payload).decode()
    response.set_cookie(FLASH_COOKIE, value, max_age=60, path=BASE, httponly=True, samesite="Strict")


def _flashes(request: web.Request) -> list[dict[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        fields = {str(k): str(v) for k, v in dict(data.get("f", {})).items()}
        level = data.get("l") if data.get("l") in ("info", "error") else "info"
        return [{"level": level, "text": gettext(request, str(data["m"]), **fields)}]
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return []  # a mangled cookie is dropped, not shown


def redirect(location: str, message: str = "", level: str = "info", /, **fields: str) -> web.Response:
    """303 See Other to ``location`` (after a POST), with an optional flash message for the next page."""
    response = web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
    if message:
        flash(response, message, level, **fields)
    return response


# -- templates ----------------------------------------------------------------------------------


@jinja2.pass_context
def _translate(context: Any, text: str, /, **fields: object) -> str:
    return i18n.translate(context.get("lang", i18n.DEFAULT), text, **fields)


@jinja2.pass_context
def _csrf_field(context: Any) -> Markup:
    token = context.get("csrf_token", "")
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
    autoescape=True,  # every template, whatever its extension: user-supplied text is always escaped
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
_ENV.globals.update(_=_translate, csrf_field=_csrf_field, CSRF_FIELD=CSRF_FIELD, static=_static.url)


def environment() -> jinja2.Environment:
    """The console's Jinja2 environment (tests parse templates with it)."""
    return _ENV


def render(request: web.Request, template: str, /, *, status: int = 200, **context: Any) -> web.Response:
    """Render ``template`` (``area/name.html``) as the response, with the console's headers and context.

    The context always holds ``lang``, ``principal`` (None when anonymous),
    ``role_name``, ``nav``, ``flashes``, ``node_name``, ``csrf_token``,
    ``path`` (the request's path) and ``lang_query`` (the current query
    without ``lang``, for the language switch); ``context`` adds to it.
    """
    lang = language(request)
    principal = _principal(request)
    session_id = request.cookies.get(SESSION_COOKIE, "")
    settings = request.app[SETTINGS]
    flashes = _flashes(request)
    base: dict[str, Any] = {
        "lang": lang,
        "principal": principal,
        "nav": _nav_for(principal),
        "flashes": flashes,
        "node_name": f"idnode {getattr(settings, 'node_prefix', '')}".strip(),
        "csrf_token": csrf_token(session_id) if session_id and principal is not None else "",
        "path": request.path,
        "lang_query": {k: v for k, v in request.query.items() if k != "lang"},
        "title": "",
    }
    base.update(context)
    text = _ENV.get_template(template).render(base)
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    if request[_LANG][1]:  # ?lang= chose: make it stick
        remember_language(response, lang)
    if flashes:
        response.del_cookie(FLASH_COOKIE, path=BASE)
    return response
