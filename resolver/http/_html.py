"""The resolver pages' HTML, without I/O: one small self-contained page per record, record list or error."""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Sequence

from idnode.registry.model import Record
from idnode.resolver.http._links import safe_url

__all__ = ["error_page", "records_page", "redirect_page"]

# No external assets: the style is inline (the pages' CSP allows only that), readable on a phone.
_STYLE = """
:root{color-scheme:light dark;font-family:system-ui,sans-serif;line-height:1.45}
body{margin:0 auto;max-width:60rem;padding:1rem}
h1{font-size:1.3rem;overflow-wrap:anywhere}
h2{font-size:1.1rem;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #8886;padding:.35rem .5rem;text-align:left;vertical-align:top}
td.data{overflow-wrap:anywhere;word-break:break-word}
td.num{font-variant-numeric:tabular-nums}
footer{color:#888;font-size:.85rem;margin-top:2rem}
""".strip()

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}</main>\n"
        "<footer>Served by an idnode secondary node of the industrial-internet identifier system.</footer>\n"
        "</body>\n</html>\n"
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


def _record_section(record: Record, heading: str) -> str:
    rows = []
    for value in sorted(record.values, key=lambda v: v.index):
        j = value.to_json()
        rows.append(
            f'<tr><td class="num">{j["index"]}</td><td>{_e(j["type"])}</td>'
            f'<td class="data">{_data_cell(j)}</td><td class="num">{j["ttl"]}</td>'
            f'<td><time datetime="{_e(j["timestamp"])}">{_e(j["timestamp"])}</time></td></tr>'
        )
    body = "\n".join(rows) if rows else '<tr><td colspan="5">No public values.</td></tr>'
    return (
        f"<section>\n<{heading}>{_e(record.handle)}</{heading}>\n"
        '<div class="scroll"><table>\n'
        f"<caption>Public values of {_e(record.handle)}</caption>\n"
        '<thead><tr><th scope="col">Index</th><th scope="col">Type</th><th scope="col">Data</th>'
        '<th scope="col">TTL (s)</th><th scope="col">Timestamp</th></tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table></div>\n</section>\n"
    )


def records_page(records: Sequence[Record], title: str = "") -> str:
    """A page of one record (its handle as the heading) or several (``title`` as the heading, one section each)."""
    if len(records) == 1 and not title:
        return _page(records[0].handle, _record_section(records[0], "h1"))
    links = "".join(
        f'<li><a href="/{_e(urllib.parse.quote(r.handle, safe="/"))}?noredirect">{_e(r.handle)}</a></li>'
        for r in records
    )
    sections = "".join(_record_section(r, "h2") for r in records)
    return _page(title, f"<h1>{_e(title)}</h1>\n<ul>{links}</ul>\n{sections}")


def error_page(status: int, title: str, message: str) -> str:
    """A page for a failed lookup (not found, invalid handle)."""
    return _page(f"{status} {title}", f"<h1>{_e(title)}</h1>\n<p>{_e(message)}</p>\n")


def redirect_page(url: str) -> str:
    """The body of a 302, for clients that do not follow ``Location``."""
    return _page("Found", f'<h1>Found</h1>\n<p><a href="{_e(url)}">{_e(url)}</a></p>\n')
