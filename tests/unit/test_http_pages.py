"""The resolver pages (resolver/http/pages.py): redirects, records as HTML and JSON, GS1 Digital Link."""

from __future__ import annotations

import html
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from idnode.registry.model import IdentifierWrite
from idnode.registry.values import Value
from idnode.resolver.http import _links
from idnode.resolver.http.server import RUNNER_ARGS, build_app
from idnode.settings import Settings

PUBLIC, PRIVATE = 0b1110, 0b1100
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
JSON = {"Accept": "application/json"}
PRODUCT = "88.118.8/JXDY2106023"


@pytest.fixture
async def client(seeded, tmp_path):
    owner = seeded.owner
    create = seeded.registry.create
    await create(owner, IdentifierWrite("88.118.8/NOURL", (Value(1, "productName", b"<b>pump</b> & co"),)))
    await create(
        owner,
        IdentifierWrite(
            "88.118.8/SUBTYPE",
            (
                Value(1, "URL", b"javascript:alert(1)"),
                Value(3, "URL", b"https://example.com/three"),
                Value(2, "URL.mobile", b"https://m.example.com/two"),
                Value(4, "GTIN", b"6950000000019"),  # GTIN-13, indexed as 06950000000019
            ),
        ),
    )
    await create(
        owner,
        IdentifierWrite(
            "88.118.8/ITEM-7",
            (Value(1, "URL", b"https://example.com/item/7"), Value(2, "SGTIN", b"(01)06950000000019(21)7")),
        ),
    )
    await create(
        owner,
        IdentifierWrite(
            "88.118.8/HIDDEN",
            (Value(1, "URL", b"https://example.com/hidden"), Value(2, "GTIN", b"96385074", permissions=PRIVATE)),
        ),
    )
    await create(owner, IdentifierWrite("88.118.8/EIGHT", (Value(1, "GTIN", b"96385074", permissions=PUBLIC),)))
    server = TestServer(build_app(seeded.registry, Settings(data_dir=tmp_path)))
    await server.start_server(**RUNNER_ARGS)
    async with TestClient(server) as c:
        yield c


async def get(client, path, headers=None):
    reply = await client.get(path, headers=headers or {}, allow_redirects=False)
    return reply, await reply.read()


async def test_a_handle_redirects_to_its_first_public_url(client):
    reply, _ = await get(client, "/" + PRODUCT)
    assert reply.status == 302 and reply.headers["Location"] == "https://example.com/p/JXDY2106023"
    reply, _ = await get(client, "/88.118.8%2FJXDY2106023")  # a client that escapes the '/'
    assert reply.status == 302
    # lowest index of URL or URL.*, skipping what a browser would execute
    reply, _ = await get(client, "/88.118.8/SUBTYPE")
    assert reply.status == 302 and reply.headers["Location"] == "https://m.example.com/two"
    # credentials change nothing: the pages are anonymous
    reply, _ = await get(client, "/" + PRODUCT, {"Authorization": "Bearer idn1.not.valid"})
    assert reply.status == 302


async def test_noredirect_shows_the_public_values_as_json(client, seeded):
    reply, body = await get(client, f"/{PRODUCT}?noredirect", JSON)
    assert reply.status == 200 and reply.content_type == "application/json"
    public = [v.to_json() for v in seeded.product if v.public_read]
    assert await reply.json() == {"responseCode": 1, "handle": PRODUCT, "values": public}
    assert "+86 591" not in body.decode()  # contact.phone is admin-read only


async def test_noredirect_shows_the_record_as_a_page(client, seeded):
    reply, body = await get(client, f"/{PRODUCT}?noredirect", BROWSER)
    text = body.decode()
    assert reply.status == 200 and reply.content_type == "text/html" and reply.charset == "utf-8"
    assert text.startswith("<!doctype html>") and '<meta name="viewport"' in text
    assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
    assert f"<h1>{PRODUCT}</h1>" in text and "电机" in text and "sales@example.com" in text
    assert '<a href="https://example.com/p/JXDY2106023"' in text
    assert "+86 591" not in text and "src=" not in text and "http://" not in text  # no external assets
    reply, body = await get(client, "/88.118.8/NOURL")  # no URL value: the record, HTML by default
    assert reply.status == 200 and html.escape("<b>pump</b> & co") in body.decode() and "<b>pump" not in body.decode()
    reply, body = await get(client, "/88.118.8/SECRET", JSON)  # nothing public: an empty record
    assert reply.status == 200 and (await reply.json())["values"] == []


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [("/88.118.8/NOPE", 404, 100), ("/88.118.8/GONE", 404, 100), ("/x", 400, 102), ("/99.1/X?noredirect", 404, 100)],
)
async def test_failures_by_accept(client, path, status, code):
    reply, _ = await get(client, path, JSON)
    assert reply.status == status and (await reply.json())["responseCode"] == code
    reply, body = await get(client, path, BROWSER)
    assert reply.status == status and reply.content_type == "text/html" and b"<h1>" in body


@pytest.mark.parametrize("path", ["/api/nothing", "/api", "/identity/token", "/identityv2/data/detail", "/healthz/x"])
async def test_the_catch_all_never_takes_other_modules_paths(client, path):
    for method in ("GET", "POST"):
        reply = await client.request(method, path, allow_redirects=False)
        assert reply.content_type == "application/json", (method, path)
        if path.startswith("/identity"):  # the enterprise API's routes: its envelope, or the router's 405
            assert "status" in await reply.json() or reply.status == 405, (method, path)
        else:
            assert reply.status == 404, (method, path)
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/openapi.json")).status == 200


@pytest.mark.parametrize("gtin", ["6950000000019", "06950000000019", "695000000001", "6950000000012x", "12345"])
async def test_gs1_digital_link_gtin(client, gtin):
    reply, _ = await get(client, f"/01/{gtin}?utm_source=x")
    if gtin == "695000000001" or not gtin.isdigit() or len(gtin) == 5:
        assert reply.status == 400 and (await reply.json())["responseCode"] == 102
        return
    # two identifiers hold it publicly, in key order: ITEM-7 then SUBTYPE
    assert reply.status == 302 and reply.headers["Location"] == "https://example.com/item/7"


async def test_gs1_digital_link_serial_and_link_type(client):
    reply, _ = await get(client, "/01/06950000000019/21/7", JSON)
    assert reply.status == 302 and reply.headers["Location"] == "https://example.com/item/7"
    reply, _ = await get(client, "/01/06950000000019/21/7?linkType=all", JSON)
    assert (await reply.json())["handle"] == "88.118.8/ITEM-7"  # the serial's own identifier
    reply, _ = await get(client, "/01/06950000000019/21/8?linkType=all", JSON)  # no such serial: the GTIN's
    listed = await reply.json()
    assert reply.status == 200 and listed["gtin"] == "06950000000019"
    assert [r["handle"] for r in listed["handles"]] == ["88.118.8/ITEM-7", "88.118.8/SUBTYPE"]
    reply, body = await get(client, "/01/6950000000019?linkType=all", BROWSER)
    assert reply.status == 200 and b'href="/88.118.8/SUBTYPE?noredirect"' in body
    # GTIN-8 held privately by HIDDEN and publicly by EIGHT, which has no URL: EIGHT's record
    reply, _ = await get(client, "/01/96385074", JSON)
    assert reply.status == 200 and (await reply.json())["handle"] == "88.118.8/EIGHT"
    reply, _ = await get(client, "/01/00000000000017", JSON)  # valid, held by nobody
    assert reply.status == 404 and (await reply.json())["responseCode"] == 100


@pytest.mark.parametrize(
    ("accept", "json"),
    [
        ("", False),
        ("*/*", False),
        ("application/json", True),
        ("application/json, text/html", False),
        ("text/html;q=0.5, application/json", True),
        ("application/*", True),
        ("text/plain", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("application/json;q=bad", False),
    ],
)
def test_accept_negotiation(accept, json):
    assert _links.prefers_json(accept) is json


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://example.com/a?b=c#d", "https://example.com/a?b=c#d"),
        (" http://x.example/ ", "http://x.example/"),
        ("https://例子.example/产品", "https://%E4%BE%8B%E5%AD%90.example/%E4%BA%A7%E5%93%81"),
        ("ftp://files.example/a", "ftp://files.example/a"),
        ("JavaScript:alert(1)", None),
        ("data:text/html,x", None),
        ("https://x.example/a b", None),
        ("https://x.example/\r\nSet-Cookie: a=b", None),
        ("/relative", None),
        ("no scheme", None),
        ("", None),
    ],
)
def test_safe_url(text, url):
    assert _links.safe_url(text) == url


def test_serial_of_each_sgtin_spelling():
    gtin = "00614141322602"
    for text in (
        "(01)00614141322602(21)6789",
        "0100614141322602216789",
        "https://id.gs1.org/01/614141322602/21/6789?x=1",
        "/01/00614141322602/21/6789",
        "urn:epc:id:sgtin:0614141.032260.6789",
    ):
        value = Value(1, "SGTIN", text.encode())
        assert _links.serial_matches([value], gtin, "6789"), text
        assert not _links.serial_matches([value], gtin, "678"), text
    assert not _links.serial_matches([Value(1, "GTIN", gtin.encode())], gtin, "6789")


async def test_the_page_speaks_the_browsers_language_and_links_the_console(client):
    zh = {**BROWSER, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
    reply, body = await get(client, f"/{PRODUCT}?noredirect", zh)
    text = body.decode()
    assert reply.status == 200 and '<html lang="zh-CN">' in text
    assert '<th scope="col">索引</th>' in text and f"<caption>{PRODUCT} 的公开值</caption>" in text
    assert '<a href="/console/signin">登录控制台</a>' in text
    # the language links keep ?noredirect (else choosing a language would leave for the URL value)
    assert '<a href="?noredirect&amp;lang=en" hreflang="en" lang="en">English</a>' in text
    assert '<a href="?noredirect&amp;lang=zh" hreflang="zh" lang="zh" aria-current="true">中文</a>' in text
    assert "Accept-Language" in reply.headers["Vary"]
    # ?lang= wins over the browser, then the console's lang cookie, then Accept-Language
    reply, body = await get(client, f"/{PRODUCT}?noredirect&lang=en", zh)
    assert '<html lang="en">' in body.decode() and '<th scope="col">Index</th>' in body.decode()
    client.session.cookie_jar.clear()  # ?lang=en set the lang cookie; this client's jar would send it
    reply, body = await get(client, f"/{PRODUCT}?noredirect", {**BROWSER, "Cookie": "lang=zh"})
    assert '<html lang="zh-CN">' in body.decode()
    reply, body = await get(client, "/88.118.8/NOPE", zh)
    assert reply.status == 404 and "<h1>未找到</h1>" in body.decode() and "<title>404 未找到</title>" in body.decode()
    reply, body = await get(client, "/88.118.8/NOPE", BROWSER)
    assert "<h1>Not found</h1>" in body.decode() and '<html lang="en">' in body.decode()


async def test_the_page_remembers_a_language_chosen_by_query_in_the_consoles_cookie(client):
    reply, body = await get(client, f"/{PRODUCT}?noredirect&lang=zh", BROWSER)
    assert '<html lang="zh-CN">' in body.decode()
    cookie = reply.cookies["lang"]
    assert cookie.value == "zh" and cookie["path"] == "/" and cookie["samesite"] == "Lax"
    assert cookie["max-age"] == str(365 * 24 * 3600)
    # the next page (no ?lang=, an English browser) and the console's sign-in page come in Chinese
    client.session.cookie_jar.clear()  # send the cookie by hand, as a browser would
    english = {**BROWSER, "Accept-Language": "en-US,en;q=0.9", "Cookie": "lang=zh"}
    reply, body = await get(client, "/88.118.8/NOPE", english)
    assert reply.status == 404 and "<h1>未找到</h1>" in body.decode() and "lang" not in reply.cookies
    reply, body = await get(client, "/console/signin", english)
    assert '<html lang="zh-CN">' in body.decode()
    reply, _ = await get(client, "/" + PRODUCT + "?lang=en")  # a redirect remembers it too
    assert reply.status == 302 and reply.cookies["lang"].value == "en"
    reply, _ = await get(client, f"/{PRODUCT}?noredirect&lang=xx", BROWSER)  # no such language: nothing set
    assert "lang" not in reply.cookies


async def test_the_page_is_styled_by_the_consoles_style_sheets_only(client):
    reply, body = await get(client, f"/{PRODUCT}?noredirect", BROWSER)
    text = body.decode()
    policy = reply.headers["Content-Security-Policy"]
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy and "script-src" not in policy
    assert "<style" not in text and "style=" not in text and "<script" not in text
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)">', text)
    assert [s.split("?")[0] for s in sheets] == ["/console/static/console.css", "/console/static/public.css"]
    for sheet in sheets:
        css = await client.get(sheet)
        assert css.status == 200 and css.content_type == "text/css" and (await css.text()).strip()
    assert '<a class="skip" href="#main">' in text and '<main id="main"' in text and '<header class="top">' in text
