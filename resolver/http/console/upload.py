"""Console bulk registration: upload a CSV or JSONL file for one prefix, see progress, get the rejected rows.

``GET /console/upload`` shows the form (enterprises and the node admin).
``POST /console/upload`` (multipart: ``prefix``, ``encoding``, ``file``,
``csrf_token``; it reaches the writer process like every console POST)
parses the file (``bulk.py``; a file refused as a whole writes nothing and
shows the form again with the reason, 400), then registers its rows through
the registry's ``batch_create`` in batches of at most 2000, each row accepted
or rejected on its own with the caller's own authorization.

Two answers to the same POST:

- ``Accept: application/x-ndjson`` (what ``static/upload.js`` sends): a
  streamed answer, one JSON object per line: ``{"total": N}``, then
  ``{"processed", "created", "repeats", "rejected"}`` after each batch, then
  the last line with ``"done": true``, the counts, ``"rows"`` (the rejected
  rows: row, handle, code, reason in the page's language) and ``"report"``
  (the same as CSV text, which the page offers as a download). A refused
  file is a 400 JSON ``{"error": ...}``.
- otherwise (no JavaScript): the result page, streamed too: a progress
  line per batch as the rows are registered, then the same summary, table
  and a download link holding the report.

The report is built from the POST's own answer, so nothing is stored and a
later GET on another worker is never needed.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from markupsafe import Markup

from idnode.registry.errors import HandleError
from idnode.registry.model import MAX_BATCH, WriteOutcome
from idnode.resolver.http.console import bulk, i18n
from idnode.resolver.http.console import web as cw
from idnode.resolver.http.console.enterprise import template_of
from idnode.resolver.http.keys import REGISTRY, SETTINGS

__all__ = ["MESSAGES", "PATH", "setup"]

log = logging.getLogger(__name__)

PATH = cw.BASE + "upload"
ROLES = ("enterprise", "node-admin")
NDJSON = "application/x-ndjson"
PROGRESS_STEPS = 20  # a file is sent in about this many batches (at least 100 rows, at most MAX_BATCH each)
REPORT_NAME = "rejected-rows.csv"
_BODY_MARK = "\x00upload-body\x00"  # where the streamed result page's progress and result go
_NOTHING_YET = {"total": 0, "processed": 0, "created": 0, "repeats": 0, "rejected": 0, "rows": []}

MESSAGES = {
    "Bulk upload": "批量上传",
    "Register many identifiers at once from a CSV or JSONL file.": "通过 CSV 或 JSONL 文件一次注册多个标识。",
    "Prefix": "前缀",
    "File": "文件",
    "Encoding": "编码",
    "UTF-8 (also with a byte-order mark)": "UTF-8（可带字节顺序标记）",
    "GB18030 (CSV saved by Excel on Chinese Windows)": "GB18030（中文 Windows 上 Excel 保存的 CSV）",
    "Upload and register": "上传并注册",
    "CSV: a header row with handle or suffix, then one column per template item ({items}) or index:type columns "
    "such as 7:EMAIL. JSONL: one enterprise-API create body per line. At most {rows} rows and {size}.": (
        "CSV：标题行包含 handle 或 suffix，然后每个模板项一列（{items}），或 index:type 形式的列，例如 7:EMAIL。"
        "JSONL：每行一个企业接口的创建请求体。最多 {rows} 行，{size}。"
    ),
    "no template": "无模板",
    "You have no approved prefix to register under.": "您还没有可用于注册的已批准前缀。",
    "Choose one of your prefixes.": "请选择您的一个前缀。",
    "Choose a file to upload.": "请选择要上传的文件。",
    "Choose UTF-8 or GB18030.": "请选择 UTF-8 或 GB18030。",
    "Progress": "进度",
    "{processed} of {total} rows": "已处理 {processed} / {total} 行",
    "Result": "结果",
    "Rows": "行数",
    "Created": "新注册",
    "Identical repeats (already registered, unchanged)": "相同重复（已注册，未改变）",
    "Rejected": "被拒绝",
    "Rejected rows": "被拒绝的行",
    "Row": "行号",
    "Identifier": "标识",
    "Code": "代码",
    "Reason": "原因",
    "Download the rejected rows (CSV)": "下载被拒绝的行（CSV）",
    "Every row was registered.": "所有行均已注册。",
    "Upload another file": "上传另一个文件",
    "The upload failed: {reason}": "上传失败：{reason}",
    "Uploading…": "正在上传…",
    "The file is larger than {size}; split it into smaller files.": "文件大于 {size}，请拆分成较小的文件。",
    "The upload was interrupted before it finished; the result below may be incomplete.": (
        "上传在完成前中断，下面的结果可能不完整。"
    ),
}
i18n.register(MESSAGES)
i18n.register(bulk.MESSAGES)


def _prefixes(request: web.Request, principal: Any) -> list[str]:
    """The approved prefixes the caller may choose (the registry lists only its own for an enterprise)."""
    return sorted(p.prefix for p in request.app[REGISTRY].list_prefixes(principal) if p.status == "approved")


def _size(count: int) -> str:
    """``8 MiB``, ``512 KiB``, ``1000 bytes``: the body limit as people read it."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


def _form_page(
    request: web.Request, principal: Any, *, status: int = 200, error: str = "", chosen: str = "", encoding: str = ""
) -> web.Response:
    from idnode.resolver.http.server import MAX_BODY_BYTES  # not at import: server.py imports the console

    max_bytes = getattr(request.app[SETTINGS], "max_body_bytes", MAX_BODY_BYTES)  # --max-body-bytes
    prefixes = _prefixes(request, principal)
    chosen = chosen or (prefixes[0] if prefixes else "")
    registry = request.app[REGISTRY]
    items = {p: [i.name for i in t.items] if (t := template_of(registry, principal, p)) else [] for p in prefixes}
    return cw.render(
        request,
        "upload/form.html",
        status=status,
        title="Bulk upload",
        prefixes=prefixes,
        chosen=chosen,
        items=items,
        encoding=encoding or "utf-8",
        max_rows=bulk.MAX_ROWS,
        max_bytes=max_bytes,
        max_size=_size(max_bytes),
        error=error,
        summary=_NOTHING_YET,
        report_href="#",
        report_name=REPORT_NAME,
    )


async def form(request: web.Request) -> web.Response:
    """``GET /console/upload``: the upload form."""
    principal = await cw.require(request, *ROLES)
    return _form_page(request, principal)


def _refused(request: web.Request, principal: Any, text: str, kept: dict[str, str]) -> web.Response:
    """A request or file refused as a whole (nothing written): 400, as JSON for the script, else the form again
    with ``text`` (already in the page's language) and the choices kept."""
    if NDJSON in request.headers.get("Accept", ""):
        return web.json_response({"error": text}, status=400, headers={"Cache-Control": "no-store"})
    return _form_page(request, principal, status=400, error=text, **kept)


def _batches(rows: list[bulk.Row]) -> list[list[bulk.Row]]:
    size = min(MAX_BATCH, max(100, -(-len(rows) // PROGRESS_STEPS)))
    return [rows[i : i + size] for i in range(0, len(rows), size)]


async def _registered(
    request: web.Request, principal: Any, rows: list[bulk.Row], summary: bulk.Summary
) -> AsyncIterator[int]:
    """Register ``rows`` batch by batch with the caller's authorization, counting into ``summary`` and yielding
    the rows processed so far after each batch.

    A batch the registry refuses as a whole (the writer unreachable, the store full) rejects its rows and every
    later row with that error, unsent: the report then lists exactly the rows to upload again.
    """
    failure: HandleError | None = None
    for batch in _batches(rows):
        if failure is None:
            try:
                outcomes = await request.app[REGISTRY].batch_create(principal, [row.item for row in batch])
            except HandleError as exc:
                log.warning("bulk upload stopped after %d of %d rows: %s", summary.processed, len(rows), exc.message)
                failure = exc
        if failure is not None:
            outcomes = [WriteOutcome.failed(row.handle, failure) for row in batch]
        summary.add(batch, outcomes)
        yield summary.processed


def _final(request: web.Request, summary: bulk.Summary) -> dict[str, Any]:
    lang = cw.language(request)
    rows = [
        {"row": r.row, "handle": r.handle, "code": r.code, "reason": bulk.reason(r, lang)} for r in summary.rejected
    ]
    return {"done": True, **summary.as_json(), "rows": rows, "report": bulk.report_csv(summary.rejected, lang)}


async def upload(request: web.Request) -> web.StreamResponse:
    """``POST /console/upload``: register the file's rows (see the module's docstring for the two answers)."""
    principal = await cw.require(request, *ROLES)
    posted = await request.post()
    prefix = str(posted.get("prefix", ""))
    encoding = str(posted.get("encoding", "utf-8"))
    kept = {"chosen": prefix, "encoding": encoding}
    if prefix not in _prefixes(request, principal):
        return _refused(request, principal, cw.gettext(request, "Choose one of your prefixes."), kept)
    if encoding not in bulk.ENCODINGS:
        return _refused(request, principal, cw.gettext(request, "Choose UTF-8 or GB18030."), kept)
    upload_field = posted.get("file")
    if not isinstance(upload_field, web.FileField) or not upload_field.filename:
        return _refused(request, principal, cw.gettext(request, "Choose a file to upload."), kept)
    data = upload_field.file.read()
    try:
        rows = bulk.parse(
            data,
            file_format=bulk.detect_format(upload_field.filename, data),
            prefix=prefix,
            template=template_of(request.app[REGISTRY], principal, prefix),
            encoding=encoding,
        )
    except bulk.FileRefused as exc:
        return _refused(request, principal, cw.gettext(request, exc.text, **exc.fields), kept)
    if NDJSON in request.headers.get("Accept", ""):
        return await _stream(request, principal, rows)
    return await _stream_page(request, principal, rows)


async def _stream_page(request: web.Request, principal: Any, rows: list[bulk.Row]) -> web.StreamResponse:
    """The answer without JavaScript: the result page, streamed. Its head and a line per batch ("100 of 250
    rows", with a progress bar) go out as the rows are registered, so the browser shows the progress and the
    request's deadline (``--request-timeout``, which ends when the answer starts) never cuts a large file; then
    the summary, the rejected rows and the report as a ``data:`` link, then the page's end."""
    page = cw.render(request, "upload/result.html", title="Bulk upload", body=Markup(_BODY_MARK))
    head, tail = page.text.split(_BODY_MARK)
    response = web.StreamResponse(status=page.status)
    for name, value in page.headers.items():
        if name.lower() != "content-length":
            response.headers.add(name, value)
    for name, morsel in page.cookies.items():  # the language cookie, the cleared flash
        response.cookies[name] = morsel
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(head.encode())
    env, lang = cw.environment(), cw.language(request)
    line = env.get_template("upload/_progress.html")
    await response.write(b'<ol class="upload-log">\n')
    summary = bulk.Summary(total=len(rows))
    async for processed in _registered(request, principal, rows, summary):
        await response.write(line.render(lang=lang, processed=processed, total=summary.total).encode())
    final = _final(request, summary)
    report = base64.b64encode(final["report"].encode()).decode()
    result = env.get_template("upload/_summary.html").render(
        lang=lang,
        summary=final,
        summary_hidden=False,
        report_href=f"data:text/csv;charset=utf-8;base64,{report}",
        report_name=REPORT_NAME,
    )
    await response.write(b"</ol>\n" + result.encode() + tail.encode())
    await response.write_eof()
    return response


async def _stream(request: web.Request, principal: Any, rows: list[bulk.Row]) -> web.StreamResponse:
    """The streamed answer: a line of counts after each batch, then the final line (rows and report)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{NDJSON}; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)

    async def send(obj: dict[str, Any]) -> None:
        await response.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")

    await send({"total": len(rows)})
    summary = bulk.Summary(total=len(rows))
    async for _ in _registered(request, principal, rows, summary):
        await send(summary.as_json())
    await send(_final(request, summary))
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    """Register ``/console/upload`` (GET form, POST upload) and its navigation entry."""
    app.router.add_get(PATH, form)
    app.router.add_post(PATH, upload)
    cw.add_nav(PATH, "Bulk upload", ROLES, order=40)
