"""Console bulk upload on a real prefork demo node: the upload POST reaches the writer, rows are registered in
batches with the signed-in enterprise's own authorization, progress streams through the worker's forwarder."""

from __future__ import annotations

import base64
import html
import json
import re

import aiohttp
import pytest

from .conftest import setup_enterprise

pytestmark = pytest.mark.node

OTHER_HEAD = "91350100M000100Y4"  # owns 88.118.9 (not the demo enterprise)
NDJSON = {"Accept": "application/x-ndjson"}


@pytest.fixture
def demo(node_factory):
    node = node_factory("--demo", "--workers", "2", "--dns-listen", "off", "--map-size", "64MiB")
    setup_enterprise(node, OTHER_HEAD, "88.118.9")
    return node


async def _signed_in(node, session: aiohttp.ClientSession) -> str:
    """Sign in as the demo enterprise; return the CSRF token of the upload form."""
    token = (node.data_dir / "demo.token").read_text().strip()
    reply = await session.post("/console/signin", data={"credential": token}, headers={"Origin": node.http})
    assert reply.status == 200, await reply.text()
    page = await (await session.get("/console/upload")).text()
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
    assert match, page[:800]
    return match.group(1)


def _form(csrf: str | None, data: bytes, name: str = "items.csv", prefix: str = "88.118.8", encoding: str = "utf-8"):
    form = aiohttp.FormData()
    if csrf is not None:
        form.add_field("csrf_token", csrf)
    form.add_field("prefix", prefix)
    form.add_field("encoding", encoding)
    form.add_field("file", data, filename=name, content_type="text/csv")
    return form


async def _record(session: aiohttp.ClientSession, handle: str) -> dict | None:
    reply = await session.get(f"/api/handles/{handle}", headers={"Accept": "application/json"})
    return await reply.json() if reply.status == 200 else None


def _rows_of(page: str) -> list[list[str]]:
    body = page.split('<tbody id="upload-rows">', 1)[1].split("</tbody>", 1)[0]
    return [
        [html.unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def _count(page: str, name: str) -> int:
    return int(re.search(rf'<dd data-count="{name}">(\d+)</dd>', page).group(1))


async def test_upload_csv_without_javascript_registers_good_rows_and_reports_the_bad(demo):
    csv_text = (
        "suffix,URL,productName,model,productionDate\n"
        "UP-1,https://e.example/1,Pump one,M-1,2026-01-02\n"
        "<b>UP-2</b>,https://e.example/2,Pump two,M-2,2026-13-40\n"  # bad date; the handle must show as text
        "UP-3,https://e.example/3,Pump three,M-3,\n"
        "DEMO-000001,https://demo.idnode.example/products/DEMO-000001,Demo centrifugal pump B,DP-200,2026-02-02\n"
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(demo.http, cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)) as session:
        csrf = await _signed_in(demo, session)
        reply = await session.post("/console/upload", data=_form(csrf, csv_text.encode()))
        page = await reply.text()
        assert reply.status == 200, page
        assert [_count(page, n) for n in ("total", "created", "repeats", "rejected")] == [4, 2, 0, 2]
        # streamed (progress lines as batches finish) through the worker's forwarder, within the page
        assert reply.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in reply.headers
        assert '<li><progress max="4" value="4"></progress> 4 of 4 rows</li>' in page
        assert "Content-Security-Policy" in reply.headers and page.rstrip().endswith("</html>")
        rows = _rows_of(page)
        assert [r[:3] for r in rows] == [["3", "88.118.8/<b>UP-2</b>", "202"], ["5", "88.118.8/DEMO-000001", "101"]]
        assert "productionDate" in rows[0][3]
        assert "<b>UP-2</b>" not in page and "&lt;b&gt;UP-2&lt;/b&gt;" in page  # escaped, never markup
        href = re.search(
            r'id="upload-report" class="button secondary" href="data:text/csv;charset=utf-8;base64,([^"]+)"', page
        )
        report = base64.b64decode(href.group(1)).decode("utf-8-sig").splitlines()
        assert report[0] == "row,handle,code,message" and report[1].startswith("3,88.118.8/<b>UP-2</b>,202,")
        # the good rows are registered with the template version; the bad ones are not
        one = await _record(session, "88.118.8/UP-1")
        assert {v["type"]: v["data"]["value"] for v in one["values"]}["productName"] == "Pump one"
        assert {v["type"] for v in one["values"]} >= {"URL", "productName", "model", "productionDate"}
        assert await _record(session, "88.118.8/UP-3") is not None
        assert await _record(session, "88.118.8/<b>UP-2</b>") is None
        # the same file again: the good rows are identical repeats, nothing new
        reply = await session.post("/console/upload", data=_form(csrf, csv_text.encode()))
        page = await reply.text()
        assert [_count(page, n) for n in ("created", "repeats", "rejected")] == [0, 2, 2]


async def test_upload_streams_progress_lines_and_the_report(demo):
    lines = [
        json.dumps({"handle": f"88.118.8/JS-{i:04d}", "value": [{"index": 1, "type": "URL", "data": f"https://j/{i}"}]})
        for i in range(250)
    ]
    lines[10] = json.dumps({"handle": "88.118.9/NOT-MINE", "value": [{"index": 1, "type": "URL", "data": "x"}]})
    lines[20] = "{broken"
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(demo.http, cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)) as session:
        csrf = await _signed_in(demo, session)
        data = ("\n".join(lines) + "\n").encode()
        reply = await session.post(
            "/console/upload?lang=zh", data=_form(csrf, data, name="items.jsonl"), headers=NDJSON
        )
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("application/x-ndjson")
        messages = [json.loads(line) async for line in reply.content if line.strip()]
    assert messages[0] == {"total": 250}
    progress = [m["processed"] for m in messages[1:-1]]
    assert progress == sorted(progress) and len(progress) >= 2 and progress[-1] == 250  # batches of 100 rows
    final = messages[-1]
    assert final["done"] and (final["created"], final["repeats"], final["rejected"]) == (248, 0, 2)
    # another enterprise's prefix is refused by the registry for that row alone (401), a broken line is code 4
    assert [(r["row"], r["handle"], r["code"]) for r in final["rows"]] == [(11, "88.118.9/NOT-MINE", 401), (21, "", 4)]
    assert final["rows"][0]["reason"].startswith("您的角色无权执行此操作")  # the page language (?lang=zh)
    assert final["report"].startswith(
        "\ufeff行号,标识,代码,原因\r\n11,88.118.9/NOT-MINE,401,您的角色无权执行此操作，未做任何更改。（"
    )


async def test_upload_refusals_change_nothing(demo):
    jar = aiohttp.CookieJar(unsafe=True)
    good = "suffix,URL,productName,model\nREF-1,https://e.example/r,P,M\n"
    async with aiohttp.ClientSession(demo.http, cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)) as session:
        csrf = await _signed_in(demo, session)
        # no CSRF token: 403 from the console, before the upload handler
        reply = await session.post("/console/upload", data=_form(None, good.encode()))
        assert reply.status == 403
        # a wrong token
        reply = await session.post("/console/upload", data=_form("0" * 64, good.encode()))
        assert reply.status == 403
        # another enterprise's prefix cannot be chosen
        reply = await session.post("/console/upload", data=_form(csrf, good.encode(), prefix="88.118.9"))
        assert reply.status == 400 and "Choose one of your prefixes." in await reply.text()
        # GB18030 bytes sent as UTF-8: refused as a whole, with the way out
        chinese = "suffix,URL,productName,model\nREF-2,https://e.example/r,离心泵,M\n".encode("gb18030")
        reply = await session.post("/console/upload", data=_form(csrf, chinese), headers=NDJSON)
        assert reply.status == 400
        assert "GB18030" in (await reply.json())["error"]
        # an empty file, unknown columns
        reply = await session.post("/console/upload", data=_form(csrf, b""))
        assert reply.status == 400 and "The file is empty." in await reply.text()
        reply = await session.post("/console/upload", data=_form(csrf, b"suffix,colour\nX,red\n"))
        assert reply.status == 400 and "Unknown columns: colour." in html.unescape(await reply.text())
        # over the HTTP body limit (--max-body-bytes, 8 MiB): 413 before any row is read
        big = b"suffix,model\n" + b"".join(b"BIG-%07d,m\n" % i for i in range(700_000))
        assert len(big) > 8 * 1024 * 1024
        reply = await session.post("/console/upload", data=_form(csrf, big))
        assert reply.status == 413
        assert await _record(session, "88.118.8/BIG-0000000") is None
        page = await (await session.get("/console/upload")).text()
        assert "At most 50000 rows and 8 MiB." in page and 'data-max-bytes="8388608"' in page
        for handle in ("88.118.8/REF-1", "88.118.8/REF-2"):
            assert await _record(session, handle) is None
        # the same GB18030 file with its encoding chosen is registered
        reply = await session.post("/console/upload", data=_form(csrf, chinese, encoding="gb18030"), headers=NDJSON)
        final = [json.loads(line) async for line in reply.content if line.strip()][-1]
        assert (final["created"], final["rejected"]) == (1, 0)
        record = await _record(session, "88.118.8/REF-2")
        assert {v["type"]: v["data"]["value"] for v in record["values"]}["productName"] == "离心泵"
    # Without a session: the page sends the browser to sign in, and a POST is refused by every worker. Each
    # fresh connection lands on either worker; a worker's forwarder once kept the writer's Set-Cookie of the
    # sign-in above and sent it with later POSTs of other clients, so such a POST ran as the enterprise.
    for attempt in range(8):
        async with aiohttp.ClientSession(demo.http, cookie_jar=aiohttp.CookieJar(unsafe=True)) as anonymous:
            reply = await anonymous.get("/console/upload", allow_redirects=False)
            assert reply.status == 303 and reply.headers["Location"].startswith("/console/signin")
            form = _form(csrf, f"suffix,model\nANON-{attempt},m\n".encode())
            reply = await anonymous.post("/console/upload", data=form, allow_redirects=False)
            assert reply.status == 403, await reply.text()
