"""Enterprise console pages: browse and search identifiers, show one, register, edit and delete them.

Registering and editing go through the prefix's metadata template form (or a
free-form value editor when the prefix has no template).

Every action calls the registry facade with the signed-in principal, so the
authorization is the APIs' own; the role lists below only choose who sees
which page and which controls (auditors read, never write).
"""

from __future__ import annotations

import dataclasses
import functools
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from idnode import _fastpath
from idnode.registry.auth import Principal
from idnode.registry.errors import HandleAlreadyExists, HandleError, HandleNotFound, InvalidHandle
from idnode.registry.model import IdentifierUpdate, IdentifierWrite, Template
from idnode.registry.values import permissions_to_str
from idnode.resolver.http.console import _forms, i18n, problems
from idnode.resolver.http.console import web as cw
from idnode.resolver.http.errors import status_of
from idnode.resolver.http.keys import REGISTRY

__all__ = ["MESSAGES", "setup", "template_of"]

READERS = ("enterprise", "node-admin", "auditor")
WRITERS = ("enterprise", "node-admin")
PAGE_SIZE = 25
BROWSE = cw.BASE + "identifiers"
ONE = cw.BASE + "identifier"

MESSAGES = {
    "Identifiers": "标识",
    "Search and browse": "搜索与浏览",
    "Suffix starts with": "后缀开头为",
    "Search": "搜索",
    "Register an identifier": "注册标识",
    "Edit an identifier": "编辑标识",
    "Delete an identifier": "删除标识",
    "Identifier": "标识",
    "No identifier matches.": "没有匹配的标识。",
    "No prefix to show yet.": "暂无可显示的前缀。",
    "Next page": "下一页",
    "First page": "第一页",
    "Previous page": "上一页",
    "Pages": "分页",
    "Handle": "标识编码",
    "Index": "索引",
    "Type": "类型",
    "Data": "数据",
    "Visibility": "可见性",
    "Permissions": "权限",
    "TTL (s)": "TTL（秒）",
    "Timestamp": "时间戳",
    "Public": "公开",
    "Private": "私有",
    "Private (only the owner and the node's operators can read it)": "私有（仅所有者和节点运营方可读）",
    "Template version": "模板版本",
    "none": "无",
    "Created on": "创建时间",
    "Updated": "更新时间",
    "Values of {handle}": "{handle} 的值",
    "Edit": "编辑",
    "Delete": "删除",
    "Register": "注册",
    "Save": "保存",
    "Cancel": "取消",
    "Public page": "公开页面",
    "Suffix": "后缀",
    "The part after {prefix}/, e.g. PUMP-0001.": "{prefix}/ 之后的部分，例如 PUMP-0001。",
    "Template {version} of prefix {prefix}: {description}": "前缀 {prefix} 的模板 {version}：{description}",
    "Prefix {prefix} has no metadata template: enter the values freely (index, type, data).": (
        "前缀 {prefix} 没有元数据模板：请自由填写值（索引、类型、数据）。"
    ),
    "Value {n}": "值 {n}",
    "Rows with an empty type are left out.": "类型为空的行将被忽略。",
    "required": "必填",
    "The identifier was not saved: {reason}": "标识未保存：{reason}",
    "The identifier was not saved: correct the fields marked below.": "标识未保存：请修改下方标出的字段。",
    "An identifier with this suffix exists already.": "已存在使用此后缀的标识。",
    "This is not a valid suffix.": "这不是有效的后缀。",
    "Registered {handle}.": "已注册 {handle}。",
    "Saved {handle}.": "已保存 {handle}。",
    "Deleted {handle}.": "已删除 {handle}。",
    "{handle} is registered already with these values.": "{handle} 已按这些值注册。",
    "Delete {handle}? It then resolves as deleted; this cannot be undone here.": (
        "确定删除 {handle}？删除后解析结果为“已删除”，此处无法撤销。"
    ),
    "Yes, delete it": "确认删除",
    "Prefix": "前缀",
    "Show": "显示",
    "Prefix {prefix} is {status}: identifiers can be registered once it is approved.": (
        "前缀 {prefix} 当前为{status}状态：批准后才能注册标识。"
    ),
    "string": "文本",
    "number": "数字",
    "integer": "整数",
    "url": "网址",
    "date": "日期",
    "datetime": "日期时间",
    "gtin": "GTIN",
    "email": "电子邮件",
    "boolean": "是/否",
    "true": "是",
    "false": "否",
}
i18n.register(MESSAGES)


def _registry(request: web.Request) -> Any:
    return request.app[REGISTRY]


def _link(handle: str, path: str = ONE) -> str:
    return path + "?" + urllib.parse.urlencode({"handle": handle})


def _when(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds)) if seconds else ""


def _text_form(form: Mapping[str, Any]) -> dict[str, str]:
    """The text fields of a posted form (file parts are not ours)."""
    return {k: v for k, v in form.items() if isinstance(v, str)}


# -- browse and search ---------------------------------------------------------------------------


async def browse(request: web.Request) -> web.Response:
    """``GET /console/identifiers?prefix=&q=&after=|before=``: one page of the prefix's identifiers whose suffix
    starts with ``q``: forward from ``after`` (registry ``browse_handles``) or backward from ``before``
    (``browse_handles_before``), both key-range reads whose cost does not grow with the page's position."""
    principal = await cw.require(request, *READERS)
    registry = _registry(request)
    prefixes = sorted(registry.list_prefixes(principal), key=lambda p: p.prefix)
    prefix = request.query.get("prefix") or (prefixes[0].prefix if prefixes else "")
    query, after, before = (request.query.get(name, "") for name in ("q", "after", "before"))
    handles: list[str] = []
    more, earlier, error, status = "", "", "", 200
    if prefix:
        try:
            handles, more, earlier = _page(registry, principal, prefix, query, after, before)
        except HandleError as exc:
            error, status = problems.explain(cw.language(request), exc), status_of(exc)
    shown = next((p for p in prefixes if p.prefix == prefix), None)

    def link(**position: str) -> str:
        return BROWSE + "?" + urllib.parse.urlencode({"prefix": prefix, "q": query, **position})

    return cw.render(
        request,
        "enterprise/browse.html",
        status=status,
        title="Identifiers",
        prefixes=prefixes,
        prefix=prefix,
        prefix_info=shown,
        q=query,
        after=after,
        rows=[(h, _link(h)) for h in handles],
        next_link=link(after=more) if more else "",
        previous_link=link(before=earlier) if earlier else "",
        first_link=link() if earlier or (after and not before) else "",
        new_link=cw.BASE + "identifier/new?" + urllib.parse.urlencode({"prefix": prefix}),
        can_write=principal.role in WRITERS and shown is not None and shown.status == "approved",
        error=error,
    )


def _page(
    registry: Any, principal: Any, prefix: str, query: str, after: str, before: str
) -> tuple[list[str], str, str]:
    """``(handles, next after, previous before)`` of a browse page ("" where there is no next / previous page).

    Backward reads that reach the start show the first page whole (read forward from the start)."""
    if before:
        handles, earlier = registry.browse_handles_before(principal, prefix, query, before, PAGE_SIZE)
        if earlier or len(handles) == PAGE_SIZE:
            return handles, handles[-1].partition("/")[2], earlier
        after = ""
    handles, more = registry.browse_handles(principal, prefix, query, after, PAGE_SIZE)
    earlier = handles[0].partition("/")[2] if after and handles else ""
    return handles, more, earlier


# -- one identifier --------------------------------------------------------------------------------


async def identifier(request: web.Request) -> web.Response:
    """``GET /console/identifier?handle=``: its values with their permissions (private ones to their owner)."""
    principal = await cw.require(request, *READERS)
    record = _registry(request).get_record(principal, request.query.get("handle", ""))
    values = [
        {
            "index": v.index,
            "type": v.type,
            "text": v.text,
            "public": v.public_read,
            "permissions": permissions_to_str(v.permissions, 4),
            "ttl": v.ttl,
            "timestamp": _when(v.timestamp),
        }
        for v in sorted(record.values, key=lambda v: v.index)
    ]
    return cw.render(
        request,
        "enterprise/identifier.html",
        title="Identifier",
        record=record,
        values=values,
        created=_when(record.created),
        updated=_when(record.updated),
        public_link="/" + record.handle + "?noredirect",
        edit_link=_link(record.handle, ONE + "/edit"),
        delete_link=_link(record.handle, ONE + "/delete"),
        browse_link=BROWSE + "?" + urllib.parse.urlencode({"prefix": record.handle.partition("/")[0]}),
        can_write=principal.role in WRITERS,
    )


# -- register and edit -----------------------------------------------------------------------------


def template_of(registry: Any, principal: Principal, prefix: str, version: str = "") -> Template | None:
    """The prefix's template (``version``, else the latest), or None when it has none."""
    for wanted in (version, "") if version else ("",):
        try:
            return registry.get_template(principal, prefix, wanted)
        except HandleNotFound:
            continue
    return None


@dataclasses.dataclass
class _Form:
    """What the form page shows: the fields (template) or rows (free form), entered values and errors."""

    mode: str  # "new" or "edit"
    prefix: str
    template: Template | None
    handle: str = ""
    suffix: str = ""
    fields: list[_forms.Field] = dataclasses.field(default_factory=list)
    rows: list[_forms.Row] = dataclasses.field(default_factory=list)
    error: str = ""
    suffix_error: str = ""


def _show_form(request: web.Request, form: _Form, status: int = 200) -> web.Response:
    title = "Register an identifier" if form.mode == "new" else "Edit an identifier"
    action = ONE + ("/new" if form.mode == "new" else "/edit")
    cancel = _link(form.handle) if form.handle else BROWSE + "?" + urllib.parse.urlencode({"prefix": form.prefix})
    return cw.render(
        request, "enterprise/form.html", status=status, title=title, form=form, action=action, cancel=cancel
    )


def _with_errors(request: web.Request, form: _Form, errors: Mapping[str, str]) -> _Form:
    """``form`` with each error (by field or row id; ``suffix``) shown next to its input."""
    form.fields = [dataclasses.replace(f, error=errors.get(f.id, "")) for f in form.fields]
    form.rows = [dataclasses.replace(r, error=errors.get(r.id, "")) for r in form.rows]
    form.suffix_error = errors.get("suffix", form.suffix_error)
    if errors and not form.error:
        form.error = cw.gettext(request, "The identifier was not saved: correct the fields marked below.")
    return form


def _registry_error(request: web.Request, form: _Form, exc: HandleError) -> dict[str, str]:
    """Put a registry error next to the field it names (in the page's language), else at the top of the form."""
    if isinstance(exc, HandleAlreadyExists):
        return {"suffix": cw.gettext(request, "An identifier with this suffix exists already.")}
    if isinstance(exc, InvalidHandle) and form.mode == "new":
        form.error = problems.explain(cw.language(request), exc)  # the registry's reason as its detail
        return {"suffix": cw.gettext(request, "This is not a valid suffix.")}
    name = problems.field_of(exc, [f.name for f in form.fields])
    if name:
        field = next(f for f in form.fields if f.name == name)
        return {field.id: problems.field_message(cw.language(request), exc)}
    explained = problems.explain(cw.language(request), exc)
    reason = cw.gettext(request, "The identifier was not saved: {reason}", reason=explained)
    form.error = problems.Explained(reason, explained.detail)
    return {}


def _values_of(
    request: web.Request, form: _Form, data: Mapping[str, str], stored: tuple[Any, ...] = ()
) -> tuple[list[Any], dict[str, str]]:
    if form.template is not None:
        form.fields = _forms.fields_of(form.template, data)
        word = functools.partial(problems.field_message, cw.language(request))
        return _forms.values_from_template_form(form.template, data, stored, word)
    form.rows = _forms.free_rows(form=data)
    return _forms.values_from_free_form(
        form.rows, stored, functools.partial(problems.field_message, cw.language(request))
    )


async def new_form(request: web.Request) -> web.Response:
    """``GET /console/identifier/new?prefix=``: the registration form of the prefix's latest template."""
    principal = await cw.require(request, *WRITERS)
    prefix = _fastpath.parse_prefix(request.query.get("prefix", ""))
    template = template_of(_registry(request), principal, prefix)
    form = _Form("new", prefix, template)
    if template is not None:
        form.fields = _forms.fields_of(template)
    else:
        form.rows = _forms.free_rows()
    return _show_form(request, form)


async def new_submit(request: web.Request) -> web.Response:
    """``POST /console/identifier/new``: register; errors go back to the form with the entered values kept."""
    principal = await cw.require(request, *WRITERS)
    registry = _registry(request)
    data = _text_form(await request.post())
    prefix = _fastpath.parse_prefix(data.get("prefix", ""))
    form = _Form("new", prefix, template_of(registry, principal, prefix, data.get("template_version", "")))
    form.suffix = data.get("suffix", "").strip()
    values, errors = _values_of(request, form, data)
    if not form.suffix:
        errors["suffix"] = cw.gettext(request, "This field is required.")
    if errors:
        return _show_form(request, _with_errors(request, form, errors), 400)
    handle = f"{prefix}/{form.suffix}"
    version = form.template.version if form.template is not None else ""
    try:
        outcome = await registry.create(
            principal, IdentifierWrite(handle, tuple(_forms.with_admin(values, prefix)), version)
        )
    except HandleError as exc:
        return _show_form(request, _with_errors(request, form, _registry_error(request, form, exc)), status_of(exc))
    if not outcome.created:
        return cw.redirect(
            _link(outcome.handle), "{handle} is registered already with these values.", handle=outcome.handle
        )
    return cw.redirect(_link(outcome.handle), "Registered {handle}.", handle=outcome.handle)


async def edit_form(request: web.Request) -> web.Response:
    """``GET /console/identifier/edit?handle=``: the form of the record's template version, filled in."""
    principal = await cw.require(request, *WRITERS)
    registry = _registry(request)
    record = registry.get_record(principal, request.query.get("handle", ""))
    prefix = record.handle.partition("/")[0]
    template = template_of(registry, principal, prefix, record.template_version)
    form = _Form("edit", prefix, template, handle=record.handle)
    if template is not None:
        form.fields = _forms.fields_of(template, stored=record.values)
    else:
        form.rows = _forms.free_rows(record.values)
    return _show_form(request, form)


async def edit_submit(request: web.Request) -> web.Response:
    """``POST /console/identifier/edit``: replace the values the form edits; others (HS_ADMIN...) are kept."""
    principal = await cw.require(request, *WRITERS)
    registry = _registry(request)
    data = _text_form(await request.post())
    record = registry.get_record(principal, data.get("handle", ""))
    prefix = record.handle.partition("/")[0]
    template = template_of(registry, principal, prefix, data.get("template_version", ""))
    form = _Form("edit", prefix, template, handle=record.handle)
    values, errors = _values_of(request, form, data, record.values)
    if errors:
        return _show_form(request, _with_errors(request, form, errors), 400)
    version = template.version if template is not None else ""
    try:
        await registry.update(
            principal, IdentifierUpdate(record.handle, "replace", tuple(values), template_version=version)
        )
    except HandleError as exc:
        return _show_form(request, _with_errors(request, form, _registry_error(request, form, exc)), status_of(exc))
    return cw.redirect(_link(record.handle), "Saved {handle}.", handle=record.handle)


# -- delete -------------------------------------------------------------------------------------------


async def delete_form(request: web.Request) -> web.Response:
    """``GET /console/identifier/delete?handle=``: asks for confirmation (a form, not only a script dialog)."""
    principal = await cw.require(request, *WRITERS)
    record = _registry(request).get_record(principal, request.query.get("handle", ""))
    return cw.render(
        request,
        "enterprise/delete.html",
        title="Delete an identifier",
        handle=record.handle,
        cancel=_link(record.handle),
    )


async def delete_submit(request: web.Request) -> web.Response:
    """``POST /console/identifier/delete``: delete (a tombstone), back to the prefix's list."""
    principal = await cw.require(request, *WRITERS)
    data = _text_form(await request.post())
    outcome = await _registry(request).delete(principal, data.get("handle", ""))
    prefix = outcome.handle.partition("/")[0]
    return cw.redirect(
        BROWSE + "?" + urllib.parse.urlencode({"prefix": prefix}), "Deleted {handle}.", handle=outcome.handle
    )


def setup(app: web.Application) -> None:
    """Register the identifier pages and their navigation entry."""
    app.router.add_get(BROWSE, browse)
    app.router.add_get(ONE, identifier)
    app.router.add_get(ONE + "/new", new_form)
    app.router.add_post(ONE + "/new", new_submit)
    app.router.add_get(ONE + "/edit", edit_form)
    app.router.add_post(ONE + "/edit", edit_submit)
    app.router.add_get(ONE + "/delete", delete_form)
    app.router.add_post(ONE + "/delete", delete_submit)
    cw.add_nav(BROWSE, "Identifiers", roles=READERS, order=10)
