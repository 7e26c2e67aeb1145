"""Console token pages: an enterprise manages its API tokens, the node admin every token, an auditor reads them.

An enterprise lists, creates (shown once) and revokes its own tokens; the
node admin lists every token and creates one of any role (enterprise, for
an approved enterprise it chooses; auditor; node-admin) or revokes any; an
auditor sees the same list without a control. Every action goes through the
registry with the signed-in principal, which decides who may do what (an
auditor's forged POST is refused there: 403, nothing changes).
"""

from __future__ import annotations

import time

from aiohttp import web

from idnode.registry.errors import HandleError
from idnode.resolver.http.console import i18n, problems
from idnode.resolver.http.console import web as cw
from idnode.resolver.http.errors import status_of
from idnode.resolver.http.keys import REGISTRY

__all__ = ["MESSAGES", "setup"]

TOKENS = cw.BASE + "tokens"
ROLES = ("enterprise", "node-admin", "auditor")  # who sees the page
MANAGERS = ("enterprise", "node-admin")  # who is shown the controls (the registry decides on each POST)
TOKEN_ROLES = ("enterprise", "auditor", "node-admin")  # what the node admin may issue
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
    "All tokens": "全部令牌",
    "Role": "角色",
    "Enterprise": "企业",
    "enterprise": "企业",
    "auditor": "审计员",
    "node-admin": "节点管理员",
    "For enterprise": "所属企业",
    "Only for the role enterprise: one of the approved enterprises.": "仅用于企业角色：从已批准的企业中选择。",
    "Choose an approved enterprise for an enterprise token.": "企业令牌须选择一个已批准的企业。",
    "A label has at most {max} characters.": "标签最多 {max} 个字符。",
    "No approved enterprise yet: enterprise tokens can be issued once one is approved.": (
        "尚无已批准的企业：企业获批后才能签发企业令牌。"
    ),
}
i18n.register(MESSAGES)


def _page(request: web.Request, principal, *, status: int = 200, issued=None, error: str = "", form=None):
    registry = request.app[REGISTRY]
    tokens = registry.list_tokens(principal)
    everyone = principal.role != "enterprise"
    enterprises = registry.list_enterprises(principal) if everyone else []
    names = {e.credit_code: e.name for e in enterprises}
    approved = [e for e in enterprises if e.status == "approved"] if principal.role == "node-admin" else []
    rows = [
        {
            "token_id": t.token_id,
            "masked": f"idn1.{t.token_id}.••••••••",
            "role": t.role,
            "enterprise": f"{names.get(t.credit_code, '')} ({t.credit_code})" if t.credit_code else "",
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
        form={"label": "", "role": "", "credit_code": "", **(form or {})},
        everyone=everyone,
        may_manage=principal.role in MANAGERS,
        may_choose_role=principal.role == "node-admin",
        token_roles=TOKEN_ROLES,
        approved=approved,
    )


async def tokens(request: web.Request) -> web.Response:
    """``GET /console/tokens``: the tokens the principal may see (id, role, enterprise, label, created, status;
    never a secret): an enterprise its own, the node admin and auditors every one."""
    return _page(request, await cw.require(request, *ROLES))


async def create(request: web.Request) -> web.Response:
    """``POST /console/tokens``: issue a token and show it once on the answer (not kept anywhere to show again).

    Form: ``label``; from the node admin also ``role`` and, for an enterprise token, ``credit_code``."""
    principal = await cw.require(request, *ROLES)
    registry = request.app[REGISTRY]
    posted = await request.post()
    form = {name: str(posted.get(name, "")).strip() for name in ("label", "role", "credit_code")}
    role = (form["role"] or "enterprise") if principal.role == "node-admin" else "enterprise"
    credit_code = form["credit_code"] if principal.role == "node-admin" and role == "enterprise" else ""
    if len(form["label"]) > MAX_LABEL_CHARS:
        error = cw.gettext(request, "A label has at most {max} characters.", max=MAX_LABEL_CHARS)
        return _page(request, principal, status=400, error=error, form=form)
    if principal.role == "node-admin" and role == "enterprise":
        approved = {e.credit_code for e in registry.list_enterprises(principal) if e.status == "approved"}
        if credit_code not in approved:
            error = cw.gettext(request, "Choose an approved enterprise for an enterprise token.")
            return _page(request, principal, status=400, error=error, form=form)
    try:
        issued = await registry.create_token(principal, role, credit_code, form["label"])
    except HandleError as exc:
        error = problems.explain(cw.language(request), exc)
        return _page(request, principal, status=status_of(exc), error=error, form=form)
    return _page(request, principal, issued=issued)


async def revoke(request: web.Request) -> web.Response:
    """``POST /console/tokens/revoke``: revoke a token (the registry checks the principal may: an enterprise only
    its own, the node admin any, an auditor none)."""
    principal = await cw.require(request, *ROLES)
    token_id = str((await request.post()).get("token_id", ""))
    try:
        revoked = await request.app[REGISTRY].revoke_token(principal, token_id)
    except HandleError as exc:
        error = problems.explain(cw.language(request), exc)
        return _page(request, principal, status=status_of(exc), error=error)
    if revoked:
        return cw.redirect(TOKENS, "Revoked token {token_id}.", token_id=token_id)
    return cw.redirect(TOKENS, "Token {token_id} was revoked already.", "error", token_id=token_id)


def setup(app: web.Application) -> None:
    """Register the token pages and their navigation entry."""
    app.router.add_get(TOKENS, tokens)
    app.router.add_post(TOKENS, create)
    app.router.add_post(TOKENS + "/revoke", revoke)
    cw.add_nav(TOKENS, "API tokens", roles=ROLES, order=40)
