"""Console token pages: an enterprise lists its API tokens, creates one (shown once) and revokes one."""

from __future__ import annotations

import time

from aiohttp import web

from idnode.resolver.http.console import i18n
from idnode.resolver.http.console import web as cw
from idnode.resolver.http.keys import REGISTRY

__all__ = ["MESSAGES", "setup"]

TOKENS = cw.BASE + "tokens"
ROLES = ("enterprise",)
MAX_LABEL_CHARS = 200

MESSAGES = {
    "API tokens": "API 令牌",
    "Your tokens": "您的令牌",
    "Token": "令牌",
    "Label": "标签",
    "Created on": "创建时间",
    "Status": "状态",
    "active": "有效",
    "revoked": "已吊销",
    "Revoke": "吊销",
    "This session": "当前会话",
    "Create a token": "创建令牌",
    "A name to recognise it by, e.g. the system that uses it.": "用于识别的名称，例如使用它的系统。",
    "Create": "创建",
    "Your new token": "您的新令牌",
    "Copy it now: it is shown only this once (only its digest is stored).": (
        "请立即复制：它只显示这一次（仅保存其摘要）。"
    ),
    "Copy": "复制",
    "Use it as Authorization: Bearer <token> with the node's APIs.": (
        "在节点 API 中作为 Authorization: Bearer <令牌> 使用。"
    ),
    "Revoked token {token_id}.": "已吊销令牌 {token_id}。",
    "Token {token_id} was revoked already.": "令牌 {token_id} 此前已被吊销。",
    "No token yet.": "还没有令牌。",
    "Revoking the token of this session signs you out.": "吊销当前会话所用的令牌将使您退出登录。",
}
i18n.register(MESSAGES)


def _page(request: web.Request, principal, *, status: int = 200, issued=None, error: str = "", label: str = ""):
    tokens = request.app[REGISTRY].list_tokens(principal)
    rows = [
        {
            "token_id": t.token_id,
            "masked": f"idn1.{t.token_id}.••••••••",
            "label": t.label,
            "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t.created)),
            "revoked": bool(t.revoked),
            "current": t.token_id == principal.token_id,
        }
        for t in reversed(tokens)  # newest first
    ]
    return cw.render(
        request,
        "tokens/tokens.html",
        status=status,
        title="API tokens",
        rows=rows,
        issued=issued,
        error=error,
        label=label,
    )


async def tokens(request: web.Request) -> web.Response:
    """``GET /console/tokens``: the enterprise's tokens (id, label, created, status; never a secret)."""
    return _page(request, await cw.require(request, *ROLES))


async def create(request: web.Request) -> web.Response:
    """``POST /console/tokens``: issue a token and show it once on the answer (not kept anywhere to show again)."""
    principal = await cw.require(request, *ROLES)
    label = str((await request.post()).get("label", "")).strip()
    if len(label) > MAX_LABEL_CHARS:
        return _page(request, principal, status=400, error="token label must have at most 200 characters", label=label)
    issued = await request.app[REGISTRY].create_token(principal, "enterprise", principal.credit_code, label)
    return _page(request, principal, issued=issued)


async def revoke(request: web.Request) -> web.Response:
    """``POST /console/tokens/revoke``: revoke one of the enterprise's tokens (the registry checks it is theirs)."""
    principal = await cw.require(request, *ROLES)
    token_id = str((await request.post()).get("token_id", ""))
    if await request.app[REGISTRY].revoke_token(principal, token_id):
        return cw.redirect(TOKENS, "Revoked token {token_id}.", token_id=token_id)
    return cw.redirect(TOKENS, "Token {token_id} was revoked already.", "error", token_id=token_id)


def setup(app: web.Application) -> None:
    """Register the token pages and their navigation entry."""
    app.router.add_get(TOKENS, tokens)
    app.router.add_post(TOKENS, create)
    app.router.add_post(TOKENS + "/revoke", revoke)
    cw.add_nav(TOKENS, "API tokens", roles=ROLES, order=40)
