"""The resolver pages' HTML, without I/O: one page per record, record list or error, framed like the console."""

from __future__ import annotations

import dataclasses
import html
import urllib.parse
from collections.abc import Sequence

from idnode.registry.model import Record
from idnode.resolver.http._links import safe_url
from idnode.resolver.http.console import _static, i18n

__all__ = ["CONTENT_SECURITY_POLICY", "MESSAGES", "Chrome", "error_page", "records_page", "redirect_page"]

# The console's style sheet (served by the node itself) and a few rules of the public page's own, so the public
# page looks like the console; no inline style (the CSP allows only style sheets from this origin).
STYLESHEETS = ("console.css", "public.css")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SIGN_IN = "/console/signin"

# English -> Chinese, registered with the console's catalogs (same keys, same words as the console).
MESSAGES = {
    "Skip to content": "跳到正文",
    "Language": "语言",
    "Sign in to the console": "登录控制台",
    "Public values of {handle}": "{handle} 的公开值",
    "Index": "索引",
    "Type": "类型",
    "Data": "数据",
    "TTL (s)": "TTL（秒）",
    "Timestamp": "时间戳",
    "No public values.": "没有公开的值。",
    "Not found": "未找到",
    "Cannot resolve": "无法解析",
    "Found": "已找到",
    "Served by an idnode secondary node of the industrial-internet identifier system.": (
        "由工业互联网标识解析体系的 idnode 二级节点提供。"
    ),
}
i18n.register(MESSAGES)


@dataclasses.dataclass(frozen=True, slots=True)
class Chrome:
    """What frames a page: its language (``en``/``zh``), the node's name, and the request's query (the language
    links keep it, so ``?noredirect`` stays)."""

    lang: str = "en"
    node_name: str = "idnode"
    query: tuple[tuple[str, str], ...] = ()

    def _(self, text: str, /, **fields: object) -> str:
        return i18n.translate(self.lang, text, **fields)

    def lang_href(self, lang: str) -> str:
        query = [(k, v) for k, v in self.query if k != "lang"] + [("lang", lang)]
        # ``noredirect`` has no value: keep it bare (``?noredirect&lang=zh``), as people type it.
        return "?" + "&".join(urllib.parse.quote(k) + ("=" + urllib.parse.quote(v) if v else "") for k, v in query)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _page(title: str, body: str, chrome: Chrome) -> str:
    _ = chrome._
    links = "".join(f'<link rel="stylesheet" href="{_e(_static.url(name))}">\n' for name in STYLESHEETS)
    current = ' aria-current="true"'
    switch = " ".join(
        f'<a href="{_e(chrome.lang_href(code))}" hreflang="{code}" lang="{code}"'
        f"{current if chrome.lang == code else ''}>{name}</a>"
        for code, name in (("zh", "中文"), ("en", "English"))
    )
    footer = _("Served by an idnode secondary node of the industrial-internet identifier system.")
    return (
        "<!doctype html>\n"
        f'<html lang="{"zh-CN" if chrome.lang == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n'
        f"<title>{_e(title)}</title>\n{links}</head>\n<body>\n"
        f'<a class="skip" href="#main">{_e(_("Skip to content"))}</a>\n'
        f'<header class="top">\n<a class="brand" href="/console/">{_e(chrome.node_name)}</a>\n'
        f'<div class="tools">\n<span class="lang" aria-label="{_e(_("Language"))}">{switch}</span>\n'
        f'<a href="{SIGN_IN}">{_e(_("Sign in to the console"))}</a>\n</div>\n</header>\n'
        f'<main id="main" tabindex="-1">\n{body}</main>\n'
        f'<footer class="public">{_e(footer)}</footer>\n</body>\n</html>\n'
    )


def _data_cell(value_json: dict[str, object]) -> str:
    data = value_json["data"]
    assert isinstance(data, dict)
    value = data["value"]
    if data["format"] == "admin" and isinstance(value, dict):
        return _e(f"{value['index']}:{value['handle']} permissions {value['permissions']}")
    if data["format"] == "vlist" and isinstance(value, list):
        return "<br>".join(_e(f"{r['index']}:{r['handle']}") for r in value)
    text = str(value)
    url = safe_url(text) if str(value_json["type"]).split(".")[0] in ("URL", "EMAIL") else None
    if url is not None and urllib.parse.urlsplit(url).scheme.lower() in ("http", "https", "mailto"):
        return f'<a href="{_e(url)}" rel="nofollow noopener noreferrer">{_e(text)}</a>'
    return _e(text)


def _record_section(record: Record, heading: str, chrome: Chrome) -> str:
    _ = chrome._
    # data-label: on a phone each value is a small card of "label: cell" lines (public.css), not five columns
    label = {name: _e(_(name)) for name in ("Index", "Type", "Data", "TTL (s)", "Timestamp")}
    rows = []
    for value in sorted(record.values, key=lambda v: v.index):
        j = value.to_json()
        stamp = _e(j["timestamp"])
        rows.append(
            f'<tr><td class="num" data-label="{label["Index"]}">{j["index"]}</td>'
            f'<td data-label="{label["Type"]}">{_e(j["type"])}</td>'
            f'<td class="data" data-label="{label["Data"]}">{_data_cell(j)}</td>'
            f'<td class="num" data-label="{label["TTL (s)"]}">{j["ttl"]}</td>'
            f'<td data-label="{label["Timestamp"]}"><time datetime="{stamp}">{stamp}</time></td></tr>'
        )
    body = "\n".join(rows) if rows else f'<tr><td colspan="5">{_e(_("No public values."))}</td></tr>'
    heads = "".join(f'<th scope="col">{text}</th>' for text in label.values())
    return (
        f"<section>\n<{heading}>{_e(record.handle)}</{heading}>\n"
        '<div class="scroll"><table class="values">\n'
        f"<caption>{_e(_('Public values of {handle}', handle=record.handle))}</caption>\n"
        f"<thead><tr>{heads}</tr></thead>\n"
        f"<tbody>\n{body}\n</tbody>\n</table></div>\n</section>\n"
    )


def records_page(records: Sequence[Record], title: str = "", chrome: Chrome = Chrome()) -> str:
    """A page of one record (its handle as the heading) or several (``title`` as the heading, one section each)."""
    if len(records) == 1 and not title:
        return _page(records[0].handle, _record_section(records[0], "h1", chrome), chrome)
    links = "".join(
        f'<li><a href="/{_e(urllib.parse.quote(r.handle, safe="/"))}?noredirect">{_e(r.handle)}</a></li>'
        for r in records
    )
    sections = "".join(_record_section(r, "h2", chrome) for r in records)
    return _page(title, f"<h1>{_e(title)}</h1>\n<ul>{links}</ul>\n{sections}", chrome)


def error_page(status: int, title: str, message: str, chrome: Chrome = Chrome()) -> str:
    """A page for a failed lookup (not found, invalid handle); ``title`` is an English catalog key, ``message``
    (the registry's) is shown as it is."""
    shown = chrome._(title)
    return _page(f"{status} {shown}", f"<h1>{_e(shown)}</h1>\n<p>{_e(message)}</p>\n", chrome)


def redirect_page(url: str, chrome: Chrome = Chrome()) -> str:
    """The body of a 302, for clients that do not follow ``Location``."""
    found = chrome._("Found")
    return _page(found, f'<h1>{_e(found)}</h1>\n<p><a href="{_e(url)}">{_e(url)}</a></p>\n', chrome)
