"""Operator pages under ``/console/operator/``: enterprise review, prefix allocation, templates per prefix, dashboard.

Node admin and auditors see every page; only the node admin is shown write
controls (an auditor's forged POST still reaches the registry, which refuses
it: 403). Every action calls the registry facade with the signed-in
principal; its errors come back as a message at the top of the form, in the
page's language (``problems.explain``: a sentence by error class with the
registry's own detail under "Technical detail"), with
the status the APIs give (400, 403, 404, 409). A success redirects (303)
with a flash message, so a reload never repeats a write.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from markupsafe import Markup

from idnode import _fastpath
from idnode.registry import templates as templating
from idnode.registry import uscc
from idnode.registry.errors import (
    HandleError,
    InvalidValue,
)
from idnode.registry.model import ENTERPRISE_STATUSES, Template, TemplateItem
from idnode.resolver.http.console import charts, dashboard, i18n, problems
from idnode.resolver.http.console import web as cw
from idnode.resolver.http.errors import status_of
from idnode.resolver.http.keys import REGISTRY
from idnode.sync import stats as daily

__all__ = ["BASE", "MESSAGES", "ROLES", "credit_code_check", "setup", "status_rows", "template_from_form"]

BASE = cw.BASE + "operator/"
ROLES = ("node-admin", "auditor")  # who may open these pages; only node-admin gets write controls
TEMPLATE_ROWS = 6  # empty item rows on the new-version form (more with ?rows=)
MAX_TEMPLATE_ROWS = templating.MAX_ITEMS
MAX_FIELD_CHARS = 200

MESSAGES = {
    # navigation and titles
    "Enterprises": "企业",
    "Prefix allocation": "前缀分配",
    "Templates": "模板",
    "Dashboard": "仪表盘",
    # enterprise review
    "Awaiting review": "待审核",
    "No enterprise is awaiting review.": "没有待审核的企业。",
    "All enterprises": "全部企业",
    "No enterprise has been registered yet.": "尚未登记任何企业。",
    "Name": "名称",
    "Contact": "联系方式",
    "Registered": "登记时间",
    "Credit code check": "信用代码校验",
    "Actions": "操作",
    "Approve": "批准",
    "Suspend": "暂停",
    "Return to pending": "退回待审核",
    "Check character valid": "校验码正确",
    "Check character should be {expected}, got {given}": "校验码应为 {expected}，实为 {given}",
    "Must be 18 characters, got {count}": "应为 18 位，实为 {count} 位",
    "Character {char} is not allowed at position {position}": "第 {position} 位的字符 {char} 不允许",
    "Add an enterprise": "登记企业",
    "A new enterprise starts as pending review.": "新登记的企业处于待审核状态。",
    "Unified social credit code": "统一社会信用代码",
    "18 characters: digits and capital letters except I, O, S, V, Z; the last one is a check character.": (
        "18 位：数字和大写字母（不含 I、O、S、V、Z），最后一位为校验码。"
    ),
    "Enterprise name": "企业名称",
    "Contact (e-mail or phone)": "联系方式（电子邮件或电话）",
    "Add enterprise": "登记企业",
    "Enterprise {code} added; it is pending review.": "企业 {code} 已登记，等待审核。",
    "Enterprise {code} is now {status}.": "企业 {code} 的状态现为 {status}。",
    "The unified social credit code is not valid: {reason}": "统一社会信用代码无效：{reason}",
    "Enter the enterprise name.": "请输入企业名称。",
    "read-only": "只读",
    "You are signed in as an auditor: these pages are read-only.": "您以审计员身份登录：这些页面为只读。",
    # prefixes
    "Allocated prefixes": "已分配的前缀",
    "No prefix has been allocated yet.": "尚未分配任何前缀。",
    "Owner": "所属企业",
    "Allocate a prefix": "分配前缀",
    "Prefix (empty: the next free one)": "前缀（留空：下一个可用前缀）",
    "For example {example}. It must lie under this node's prefix {node_prefix}.": (
        "例如 {example}。必须位于本节点前缀 {node_prefix} 之下。"
    ),
    "Allocate": "分配",
    "Prefix {prefix} allocated to {code} ({status}).": "前缀 {prefix} 已分配给 {code}（{status}）。",
    "With an upstream top-level node a new prefix stays pending until the top-level node approves it.": (
        "连接上级顶级节点时，新前缀在顶级节点批准前保持待审核状态。"
    ),
    "pending at the top-level node": "等待顶级节点审批",
    "Choose an enterprise": "选择企业",
    "Register an enterprise first.": "请先登记企业。",
    # templates
    "Templates per prefix": "各前缀的模板",
    "Versions": "版本",
    "Version": "版本",
    "Stored": "保存时间",
    "Items": "条目",
    "No template version is stored for this prefix.": "此前缀尚无模板版本。",
    "View": "查看",
    "Delete": "删除",
    "Delete version {version} of the template of {prefix}?": "删除 {prefix} 模板的 {version} 版本？",
    "Template version {version} of {prefix} deleted.": "{prefix} 的模板版本 {version} 已删除。",
    "Template version {version} of {prefix} stored.": "{prefix} 的模板版本 {version} 已保存。",
    "New template version": "新建模板版本",
    "Versions are immutable: publish a new version to change a template.": "版本不可修改：如需更改模板，请发布新版本。",
    "Industry code": "行业代码",
    "Carrier type": "载体类型",
    "Description": "说明",
    "Item {n}": "条目 {n}",
    "Item name (value type)": "条目名称（值类型）",
    "Identifier type (idType)": "标识类型（idType）",
    "Required": "必填",
    "Index (0: any)": "索引（0：任意）",
    "Metadata type": "元数据类型",
    "Minimum length": "最小长度",
    "Maximum length (0: none)": "最大长度（0：不限）",
    "Rows left empty are ignored.": "留空的行将被忽略。",
    "More rows": "更多行",
    "Store version": "保存版本",
    "Template {prefix} version {version}": "模板 {prefix} 版本 {version}",
    "Back to the templates of {prefix}": "返回 {prefix} 的模板",
    "yes": "是",
    "no": "否",
    # dashboard
    "Node dashboard": "节点仪表盘",
    "Range": "时间范围",
    "Last {days} days": "最近 {days} 天",
    "All prefixes": "全部前缀",
    "Show": "显示",
    "no data yet": "暂无数据",
    "Data as a table": "以表格显示数据",
    "Day": "日期",
    "Total": "合计",
    "Resolutions per day": "每日解析量",
    "Successful resolutions per day, by front end (gRPC, DNS, HTTP).": (
        "按前端（gRPC、DNS、HTTP）统计的每日成功解析量。"
    ),
    "Resolutions": "解析量",
    "Errors per day": "每日错误数",
    "Failed resolutions per day, by front end.": "按前端统计的每日解析失败数。",
    "Errors": "错误数",
    "Registrations per day": "每日注册量",
    "Identifiers registered per day, by prefix (the node's daily counters).": (
        "按前缀统计的每日标识注册量（节点的每日计数器）。"
    ),
    "Registrations": "注册量",
    "Registrations before {day} are not counted: this node counts them since an upgrade, and the change log "
    "it held then did not reach further back (--log-retention).": (
        "{day} 之前的注册量未统计：本节点自升级起才计数，升级时保留的变更日志也未覆盖更早的日期（--log-retention）。"
    ),
    "Resolutions per prefix": "各前缀解析量",
    "Resolutions in the range per prefix, stacked by front end.": "所选范围内各前缀的解析量，按前端堆叠。",
    "Error ratio": "错误率",
    "Failed resolutions among all resolutions in the range.": "所选范围内解析失败数占全部解析的比例。",
    "Failed": "失败",
    "All answers": "全部应答",
    "LMDB usage": "LMDB 用量",
    "Bytes in use in the LMDB map; the map grows by itself up to --map-size-max.": (
        "LMDB 映射中已用的字节数；映射会自动增长，最多到 --map-size-max。"
    ),
    "Used": "已用",
    "Map size": "映射大小",
    "Node status": "节点状态",
    "Change-log head": "变更日志最新序号",
    "Identifiers (live)": "标识数量（有效）",
    "Upward sync": "向上同步",
    "stand-alone (no top-level node)": "独立运行（无顶级节点）",
    "to {top}: {sequences} changes behind, {seconds} s": "至 {top}：落后 {sequences} 条变更，{seconds} 秒",
    "Replication": "复制",
    "not a replica": "非只读副本",
    "from {primary} ({state}): {sequences} changes behind, {seconds} s": (
        "来自 {primary}（{state}）：落后 {sequences} 条变更，{seconds} 秒"
    ),
    "LMDB readers": "LMDB 读者槽",
    "LMDB used": "LMDB 已用",
    "LMDB map size": "LMDB 映射大小",
    "Totals in the range": "所选范围合计",
    "Days are cut at midnight {zone}.": "按 {zone} 午夜切分日期。",
}
i18n.register(MESSAGES)


def _error_text(request: web.Request, exc: HandleError) -> problems.Explained:
    """A registry error in the page's language (``problems.explain``: a sentence by class, the detail kept)."""
    return problems.explain(cw.language(request), exc)


def credit_code_check(code: str) -> tuple[bool, str, dict[str, str]]:
    """``(valid, message key, fields)`` of a unified social credit code's check (``registry/uscc.py``).

    The message names what is wrong: the length, a character outside the
    alphabet (1-based position), or the check character expected and given.
    """
    text = code.strip().upper()
    if len(text) != uscc.CODE_LENGTH:
        return False, "Must be 18 characters, got {count}", {"count": str(len(text))}
    for position, char in enumerate(text):
        if char not in uscc.ALPHABET:
            return (
                False,
                "Character {char} is not allowed at position {position}",
                {
                    "char": char,
                    "position": str(position + 1),
                },
            )
    expected = uscc.check_character(text[:17])
    if text[17] != expected:
        return False, "Check character should be {expected}, got {given}", {"expected": expected, "given": text[17]}
    return True, "Check character valid", {}


def _when(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds)) if seconds else ""


def _principal_may_write(principal: Any) -> bool:
    return principal.role == "node-admin"


async def _form(request: web.Request) -> dict[str, str]:
    """The posted form's text fields, stripped, each cut to a sane length (files and repeats ignored)."""
    posted = await request.post()
    return {k: v.strip()[: MAX_FIELD_CHARS * 4] for k, v in posted.items() if isinstance(v, str)}


# -- enterprises ------------------------------------------------------------------------------


def _enterprise_rows(request: web.Request, registry: Any, principal: Any) -> list[dict[str, Any]]:
    rows = []
    for e in sorted(registry.list_enterprises(principal), key=lambda e: (e.created, e.credit_code)):
        valid, message, fields = credit_code_check(e.credit_code)
        rows.append(
            {
                "e": e,
                "valid": valid,
                "check": cw.gettext(request, message, **fields),
                "registered": _when(e.created),
                "actions": [s for s in ENTERPRISE_STATUSES if s != e.status],
            }
        )
    return rows


async def _enterprises_page(
    request: web.Request, *, status: int = 200, error: str = "", field_error: str = "", form: Any = None
) -> web.Response:
    principal = await cw.require(request, *ROLES)
    registry = request.app[REGISTRY]
    rows = _enterprise_rows(request, registry, principal)
    return cw.render(
        request,
        "operator/enterprises.html",
        status=status,
        title="Enterprises",
        pending=[r for r in rows if r["e"].status == "pending"],
        rows=rows,
        may_write=_principal_may_write(principal),
        error=error,
        field_error=field_error,
        form=form or {},
    )


async def enterprises(request: web.Request) -> web.Response:
    """``GET /console/operator/enterprises``: awaiting review (with the credit-code check), then all enterprises."""
    return await _enterprises_page(request)


async def add_enterprise(request: web.Request) -> web.Response:
    """``POST /console/operator/enterprises``: register an enterprise (pending review) through ``add_enterprise``."""
    principal = await cw.require(request, *ROLES)
    form = await _form(request)
    code, name, contact = form.get("credit_code", ""), form.get("name", ""), form.get("contact", "")
    valid, message, fields = credit_code_check(code)
    if not valid:
        reason = cw.gettext(request, message, **fields)
        text = cw.gettext(request, "The unified social credit code is not valid: {reason}", reason=reason)
        return await _enterprises_page(request, status=400, field_error=text, form=form)
    if not name:
        return await _enterprises_page(
            request, status=400, error=cw.gettext(request, "Enter the enterprise name."), form=form
        )
    try:
        added = await request.app[REGISTRY].add_enterprise(principal, code, name, contact)
    except HandleError as exc:
        return await _enterprises_page(request, status=status_of(exc), error=_error_text(request, exc), form=form)
    return cw.redirect(BASE + "enterprises", "Enterprise {code} added; it is pending review.", code=added.credit_code)


async def set_status(request: web.Request) -> web.Response:
    """``POST /console/operator/enterprises/{code}/status``: approve, suspend or return to pending."""
    principal = await cw.require(request, *ROLES)
    form = await _form(request)
    try:
        changed = await request.app[REGISTRY].set_enterprise_status(
            principal, request.match_info["code"], form.get("status", "")
        )
    except HandleError as exc:
        return await _enterprises_page(request, status=status_of(exc), error=_error_text(request, exc))
    status = cw.gettext(request, changed.status)
    return cw.redirect(
        BASE + "enterprises", "Enterprise {code} is now {status}.", code=changed.credit_code, status=status
    )


# -- prefixes -------------------------------------------------------------------------------------


async def _prefixes_page(request: web.Request, *, status: int = 200, error: str = "", form: Any = None) -> web.Response:
    principal = await cw.require(request, *ROLES)
    registry = request.app[REGISTRY]
    owners = {e.credit_code: e for e in registry.list_enterprises(principal)}
    prefixes = sorted(registry.list_prefixes(principal), key=lambda p: _prefix_sort_key(p.prefix))
    chosen = (form or {}).get("credit_code") or request.query.get("credit_code", "")
    return cw.render(
        request,
        "operator/prefixes.html",
        status=status,
        title="Prefix allocation",
        prefixes=[{"p": p, "owner": owners.get(p.owner), "allocated": _when(p.created)} for p in prefixes],
        enterprises=sorted(owners.values(), key=lambda e: e.name),
        chosen=chosen,
        top=registry.top or "",
        node_prefix=registry.node_prefix,
        may_write=_principal_may_write(principal),
        error=error,
        form=form or {},
    )


def _prefix_sort_key(prefix: str) -> list[Any]:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in prefix.split(".")]


async def prefixes(request: web.Request) -> web.Response:
    """``GET /console/operator/prefixes``: every allocated prefix with its owner and status; the allocation form."""
    return await _prefixes_page(request)


async def allocate(request: web.Request) -> web.Response:
    """``POST /console/operator/prefixes``: ``allocate_prefix`` for an enterprise (named, or the next free one)."""
    principal = await cw.require(request, *ROLES)
    form = await _form(request)
    try:
        info = await request.app[REGISTRY].allocate_prefix(
            principal, form.get("credit_code", ""), form.get("prefix", "")
        )
    except HandleError as exc:
        return await _prefixes_page(request, status=status_of(exc), error=_error_text(request, exc), form=form)
    return cw.redirect(
        BASE + "prefixes",
        "Prefix {prefix} allocated to {code} ({status}).",
        prefix=info.prefix,
        code=info.owner,
        status=cw.gettext(request, info.status),
    )


# -- templates --------------------------------------------------------------------------------------


def _checked_prefix(text: str) -> str:
    """A prefix from the URL, normalised (InvalidHandle, a 400 page, when malformed)."""
    return _fastpath.parse_prefix(text)


def template_from_form(prefix: str, form: dict[str, str]) -> Template:
    """The template a new-version form describes: rows ``item-<n>-<field>``; rows without a name are skipped.

    Raises:
        InvalidValue: no item, or a number field that is not a whole number
        (the registry checks the rest: names, types, lengths, versions).
    """
    rows = sorted({int(m.group(1)) for k in form if (m := re.fullmatch(r"item-(\d{1,3})-name", k)) and form[k]})
    items = []
    for n in rows:

        def number(field: str, label: str, row: int = n) -> int:
            raw = form.get(f"item-{row}-{field}", "") or "0"
            if not re.fullmatch(r"[0-9]{1,9}", raw):
                raise InvalidValue(f"item {row + 1}: {label} must be a whole number, got {raw[:20]!r}")
            return int(raw)

        items.append(
            TemplateItem(
                name=form[f"item-{n}-name"],
                id_type=form.get(f"item-{n}-idtype", "") or "string",
                required=form.get(f"item-{n}-required", "") in ("on", "true", "1"),
                metadata_type=form.get(f"item-{n}-type", "") or "string",
                min_length=number("min", "minimum length"),
                max_length=number("max", "maximum length"),
                index=number("index", "index"),
            )
        )
    if not items:
        raise InvalidValue("give the template at least one item")
    return Template(
        prefix=prefix,
        version=form.get("version", ""),
        items=tuple(items),
        industry_code=form.get("industry_code", ""),
        carrier_type=form.get("carrier_type", ""),
        description=form.get("description", ""),
    )


async def _templates_page(
    request: web.Request, prefix: str, *, status: int = 200, error: str = "", form: Any = None
) -> web.Response:
    principal = await cw.require(request, *ROLES)
    registry = request.app[REGISTRY]
    allocated = sorted(registry.list_prefixes(principal), key=lambda p: _prefix_sort_key(p.prefix))
    versions = registry.list_templates(principal, prefix) if prefix else []
    try:
        rows = int(request.query.get("rows", TEMPLATE_ROWS))
    except ValueError:
        rows = TEMPLATE_ROWS
    form = form or {}
    posted_rows = [int(m.group(1)) for k in form if (m := re.fullmatch(r"item-(\d{1,3})-name", k))]
    rows = max(1, min(max(rows, max(posted_rows, default=-1) + 1), MAX_TEMPLATE_ROWS))
    return cw.render(
        request,
        "operator/templates.html",
        status=status,
        title="Templates",
        prefixes=allocated,
        prefix=prefix,
        versions=[{"t": t, "stored": _when(t.created)} for t in reversed(versions)],
        may_write=_principal_may_write(principal),
        metadata_types=templating.METADATA_TYPES,
        rows=rows,
        more_rows=min(rows + TEMPLATE_ROWS, MAX_TEMPLATE_ROWS),
        error=error,
        form=form,
    )


async def templates_index(request: web.Request) -> web.Response:
    """``GET /console/operator/templates[?prefix=]``: the prefixes; for one, its versions and the new-version form."""
    prefix = request.query.get("prefix", "")
    return await _templates_page(request, _checked_prefix(prefix) if prefix else "")


async def template_view(request: web.Request) -> web.Response:
    """``GET /console/operator/templates/{prefix}/{version}``: one version's items."""
    principal = await cw.require(request, *ROLES)
    prefix = _checked_prefix(request.match_info["prefix"])
    version = request.match_info["version"]
    if not version:
        raise web.HTTPNotFound()
    template = request.app[REGISTRY].get_template(principal, prefix, version)
    return cw.render(
        request,
        "operator/template.html",
        title="Templates",
        t=template,
        stored=_when(template.created),
        may_write=_principal_may_write(principal),
    )


async def template_create(request: web.Request) -> web.Response:
    """``POST /console/operator/templates/{prefix}``: store a new version (``put_template``)."""
    principal = await cw.require(request, *ROLES)
    prefix = _checked_prefix(request.match_info["prefix"])
    form = await _form(request)
    try:
        stored = await request.app[REGISTRY].put_template(principal, template_from_form(prefix, form))
    except HandleError as exc:
        return await _templates_page(request, prefix, status=status_of(exc), error=_error_text(request, exc), form=form)
    return cw.redirect(
        f"{BASE}templates?prefix={prefix}",
        "Template version {version} of {prefix} stored.",
        version=stored.version,
        prefix=prefix,
    )


async def template_delete(request: web.Request) -> web.Response:
    """``POST /console/operator/templates/{prefix}/{version}/delete``: delete one version (``delete_template``)."""
    principal = await cw.require(request, *ROLES)
    prefix = _checked_prefix(request.match_info["prefix"])
    version = request.match_info["version"]
    try:
        await request.app[REGISTRY].delete_template(principal, prefix, version)
    except HandleError as exc:
        return await _templates_page(request, prefix, status=status_of(exc), error=_error_text(request, exc))
    return cw.redirect(
        f"{BASE}templates?prefix={prefix}",
        "Template version {version} of {prefix} deleted.",
        version=version,
        prefix=prefix,
    )


# -- dashboard --------------------------------------------------------------------------------------


def _chart_texts(request: web.Request) -> dict[str, Any]:
    """What every chart says when it has nothing to draw, and the summary of its data table."""
    return {"empty": cw.gettext(request, "no data yet"), "table_summary": cw.gettext(request, "Data as a table")}


def _axis_texts(request: web.Request, x_label: str, y_label: str) -> dict[str, Any]:
    """:func:`_chart_texts` and the axis names of a line or bar chart."""
    axes = {"x_label": cw.gettext(request, x_label), "y_label": cw.gettext(request, y_label)}
    return axes | _chart_texts(request)


def _month_day(day: str) -> str:
    """``2026-11-29`` -> ``11-29`` on a day axis (the data table keeps the whole date)."""
    return day[5:]


def _charts(request: web.Request, shaped: dashboard.Shaped, node: dict[str, Any]) -> dict[str, Markup]:
    """The dashboard's charts, in the page's language (``charts`` escapes every text)."""
    tr = cw.gettext
    traffic = shaped.resolutions or shaped.errors
    out = {
        "resolutions": charts.line_chart(
            "chart-resolutions",
            tr(request, "Resolutions per day"),
            tr(request, "Successful resolutions per day, by front end (gRPC, DNS, HTTP)."),
            shaped.days,
            shaped.resolutions_by_frontend if traffic else (),
            area=True,
            axis_label=_month_day,
            **_axis_texts(request, "Day", "Resolutions"),
        ),
        "errors": charts.line_chart(
            "chart-errors",
            tr(request, "Errors per day"),
            tr(request, "Failed resolutions per day, by front end."),
            shaped.days,
            shaped.errors_by_frontend if traffic else (),
            axis_label=_month_day,
            **_axis_texts(request, "Day", "Errors"),
        ),
        "registrations": charts.line_chart(
            "chart-registrations",
            tr(request, "Registrations per day"),
            tr(request, "Identifiers registered per day, by prefix (the node's daily counters)."),
            shaped.days,
            shaped.registrations_by_prefix,
            axis_label=_month_day,
            **_axis_texts(request, "Day", "Registrations"),
        ),
        "prefixes": charts.stacked_bars(
            "chart-prefixes",
            tr(request, "Resolutions per prefix"),
            tr(request, "Resolutions in the range per prefix, stacked by front end."),
            shaped.prefixes,
            shaped.prefix_bars,
            total_label=tr(request, "Total"),
            **_axis_texts(request, "Prefix", "Resolutions"),
        ),
        "error_ratio": charts.gauge(
            "chart-error-ratio",
            tr(request, "Error ratio"),
            tr(request, "Failed resolutions among all resolutions in the range."),
            shaped.errors,
            shaped.errors + shaped.resolutions,
            value_label=tr(request, "Failed"),
            maximum_label=tr(request, "All answers"),
            **_chart_texts(request),
            warn_at=0.05,
        ),
        "lmdb": charts.gauge(
            "chart-lmdb",
            tr(request, "LMDB usage"),
            tr(request, "Bytes in use in the LMDB map; the map grows by itself up to --map-size-max."),
            node.get("map_used", 0),
            node.get("map_size", 0),
            value_label=tr(request, "Used"),
            maximum_label=tr(request, "Map size"),
            **_chart_texts(request),
            fmt=charts.short_bytes,
        ),
    }
    return {name: Markup(html) for name, html in out.items()}  # charts escapes every text it writes


def status_rows(tr: Callable[..., str], node: dict[str, Any]) -> list[tuple[str, str]]:
    """The node-status table of the dashboard from ``Registry.stats``; ``tr(text, **fields)`` translates."""
    sync = node.get("sync") or {}
    if sync.get("top"):
        upward = tr(
            "to {top}: {sequences} changes behind, {seconds} s",
            top=sync["top"],
            sequences=f"{sync.get('lag_sequences', 0):,}",
            seconds=f"{sync.get('lag_seconds', 0):.0f}",
        )
    else:
        upward = tr("stand-alone (no top-level node)")
    replication = node.get("replication")
    if replication:
        replica = tr(
            "from {primary} ({state}): {sequences} changes behind, {seconds} s",
            primary=replication["primary"],
            state=replication["state"],
            sequences=f"{replication['lag_sequences']:,}",
            seconds=f"{replication['lag_seconds']:.0f}",
        )
    else:
        replica = tr("not a replica")
    return [
        (tr("Change-log head"), f"{node.get('changelog_sequence', 0):,}"),
        (tr("Identifiers (live)"), f"{node.get('identifiers', 0):,}"),
        (tr("Upward sync"), upward),
        (tr("Replication"), replica),
        (tr("LMDB used"), charts.short_bytes(node.get("map_used", 0))),
        (tr("LMDB map size"), charts.short_bytes(node.get("map_size", 0))),
        (tr("LMDB readers"), f"{node.get('readers_used', 0)} / {node.get('readers_max', 0)}"),
    ]


async def dashboard_page(request: web.Request) -> web.Response:
    """``GET /console/operator/dashboard?days=7|30|90&prefix=``: charts of the node's own statistics."""
    principal = await cw.require(request, *ROLES)
    registry = request.app[REGISTRY]
    try:
        days = int(request.query.get("days", dashboard.DEFAULT_DAYS))
    except ValueError:
        days = 0
    if days not in dashboard.RANGES:
        raise InvalidValue(f"days must be one of {', '.join(map(str, dashboard.RANGES))}")
    prefix = request.query.get("prefix", "")
    if prefix:
        prefix = _checked_prefix(prefix).lower()
    tz = daily.zone()
    span = dashboard.day_range(daily.day_of(time.time(), tz), days)
    rows = registry.usage(principal, span[0], span[-1])
    created, complete_from = await dashboard.registrations(registry.daily_registrations(principal, span[0], span[-1]))
    shaped = dashboard.shape(span, rows, created, complete_from, prefix)
    node = registry.stats(principal)
    return cw.render(
        request,
        "operator/dashboard.html",
        title="Dashboard",
        days=days,
        ranges=dashboard.RANGES,
        prefix=prefix,
        shaped=shaped,
        charts=_charts(request, shaped, node),
        status_rows=status_rows(functools.partial(cw.gettext, request), node),
        zone=getattr(tz, "key", None) or str(tz),
    )


def setup(app: web.Application) -> None:
    """Register the operator pages and their navigation entries (node admin and auditors)."""
    router = app.router
    router.add_get(BASE + "enterprises", enterprises)
    router.add_post(BASE + "enterprises", add_enterprise)
    router.add_post(BASE + "enterprises/{code}/status", set_status)
    router.add_get(BASE + "prefixes", prefixes)
    router.add_post(BASE + "prefixes", allocate)
    router.add_get(BASE + "templates", templates_index)
    router.add_get(BASE + "templates/{prefix}/{version}", template_view)
    router.add_post(BASE + "templates/{prefix}", template_create)
    router.add_post(BASE + "templates/{prefix}/{version}/delete", template_delete)
    router.add_get(BASE + "dashboard", dashboard_page)
    cw.add_nav(BASE + "dashboard", "Dashboard", ROLES, order=20)
    cw.add_nav(BASE + "enterprises", "Enterprises", ROLES, order=21)
    cw.add_nav(BASE + "prefixes", "Prefix allocation", ROLES, order=22)
    cw.add_nav(BASE + "templates", "Templates", ROLES, order=23)
