"""Console sign-in, sign-out and the home page (who is signed in: role, enterprise, prefixes)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from idnode.registry.errors import AuthenticationFailed, HandleError
from idnode.resolver.http.console import i18n, problems
from idnode.resolver.http.console import web as cw
from idnode.resolver.http.keys import REGISTRY

__all__ = ["MESSAGES", "setup"]

MAX_CREDENTIAL_CHARS = 512  # node credentials are ~60 characters; anything far longer is not one

MESSAGES = {
    "Credential": "凭据",
    "Your node credential: an enterprise token, the node-admin credential or an auditor token (idn1.…).": (
        "您的节点凭据：企业令牌、节点管理员凭据或审计员令牌（idn1.…）。"
    ),
    "Handle identity (optional)": "Handle 身份（可选）",
    "To act as a Handle admin identity such as 300:88.118.8/ADMIN.": (
        "以 Handle 管理身份登录，例如 300:88.118.8/ADMIN。"
    ),
    "Enter your credential.": "请输入凭据。",
    "You are signed out.": "您已退出登录。",
    "Welcome": "欢迎",
    "Role": "角色",
    "Credential id": "凭据编号",
    "Enterprise": "企业",
    "Credit code": "统一社会信用代码",
    "Status": "状态",
    "Prefixes": "前缀",
    "Prefix": "前缀",
    "Identifiers": "标识",
    "Allocated": "分配时间",
    "No prefix has been allocated to this enterprise yet.": "尚未为该企业分配前缀。",
    "Node prefix": "节点前缀",
    "Session ends": "会话结束时间",
    "pending": "待审核",
    "approved": "已批准",
    "suspended": "已暂停",
    "rejected": "已拒绝",
}
i18n.register(MESSAGES)


def _next_of(value: Any) -> str:
    """Where to go after signing in: a console path only (no open redirect to another site)."""
    target = value if isinstance(value, str) else ""
    if not target.startswith(cw.BASE) or target.startswith("//") or "\\" in target or "\n" in target:
        return cw.BASE
    return target


def _sign_in_page(request: web.Request, *, status: int = 200, error: str = "", identity: str = "", nxt: str = ""):
    return cw.render(
        request,
        "auth/signin.html",
        status=status,
        title="Sign in",
        error=error,
        identity=identity,
        next=_next_of(nxt or request.query.get("next")),
    )


async def sign_in_form(request: web.Request) -> web.Response:
    """``GET /console/signin``: the sign-in form (signed-in users go on to where they were going)."""
    if await cw.signed_in(request) is not None:
        raise web.HTTPSeeOther(_next_of(request.query.get("next")))
    return _sign_in_page(request)


async def sign_in(request: web.Request) -> web.Response:
    """``POST /console/signin``: check the credential (as the Handle identity, if given), open a registry session,
    set the session cookie and go on. A refused credential shows the form again (403), the identity kept."""
    form = await request.post()
    credential = str(form.get("credential", "")).strip()
    identity = str(form.get("identity", "")).strip()
    nxt = _next_of(form.get("next"))
    if not credential or len(credential) > MAX_CREDENTIAL_CHARS:
        error = cw.gettext(request, "Enter your credential.")
        return _sign_in_page(request, status=400, error=error, identity=identity[:200], nxt=nxt)
    registry = request.app[REGISTRY]
    try:
        principal = registry.authenticate_as(identity, credential)
        if principal.is_anonymous:
            raise AuthenticationFailed("no credential")
        session_id, expires = await registry.open_session(principal)
    except HandleError as exc:
        error = problems.explain(cw.language(request), exc)  # the registry's reason under "Technical detail"
        return _sign_in_page(request, status=403, error=error, identity=identity[:200], nxt=nxt)
    previous = request.cookies.get(cw.SESSION_COOKIE, "")
    if previous:  # signing in again (perhaps as someone else) ends the session this browser had
        await registry.close_session(previous)
    response = cw.redirect(nxt)
    cw.session_cookie(response, request, session_id, max(1, int(expires - time.time())))
    return response


async def sign_out(request: web.Request) -> web.Response:
    """``POST /console/signout``: close the session server-side (the id is useless from now on), clear the cookie."""
    session_id = request.cookies.get(cw.SESSION_COOKIE, "")
    if session_id:
        await request.app[REGISTRY].close_session(session_id)
    response = cw.redirect(cw.SIGN_IN, "You are signed out.")
    cw.clear_session_cookie(response, request)
    return response


async def home(request: web.Request) -> web.Response:
    """``GET /console/``: who is signed in (role, enterprise, prefixes with their status); anonymous: sign in."""
    principal = await cw.require(request)
    registry = request.app[REGISTRY]
    enterprise = None
    prefixes: list[Any] = []
    if principal.role == "enterprise":
        found = registry.list_enterprises(principal)
        enterprise = found[0] if found else None
        prefixes = sorted(registry.list_prefixes(principal), key=lambda p: p.prefix)
    expires = registry.session_expires(request.cookies.get(cw.SESSION_COOKIE, ""))
    return cw.render(
        request,
        "auth/home.html",
        title="Home",
        enterprise=enterprise,
        prefixes=prefixes,
        node_prefix=registry.node_prefix,
        session_ends=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires)) if expires else "",
    )


async def _to_home(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(cw.BASE)


def setup(app: web.Application) -> None:
    """Register the home page, sign-in and sign-out."""
    app.router.add_get("/console", _to_home)
    app.router.add_get(cw.BASE, home)
    app.router.add_get(cw.SIGN_IN, sign_in_form)
    app.router.add_post(cw.SIGN_IN, sign_in)
    app.router.add_post(cw.BASE + "signout", sign_out)
    cw.add_nav(cw.BASE, "Home", order=0)
