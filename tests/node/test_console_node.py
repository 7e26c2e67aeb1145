"""The web console on a real prefork node (``--workers 2``): sign-in, CSRF and sign-out pass through the writer.

Every POST of a prefork worker is forwarded to the writer process over its
Unix socket, so this proves the cookies, the CSRF token, the same-origin
headers and the Set-Cookie answers survive that hop, and that a session
opened by the writer is seen by every worker (one LMDB read).
"""

from __future__ import annotations

import http.client
import re
import ssl
import urllib.parse

import aiohttp
import pytest

from .conftest import setup_enterprise
from .test_http_tls import self_signed

pytestmark = pytest.mark.node

HEAD = "91350100M000100Y4"


def _csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
    assert match, page[:500]
    return match.group(1)


async def test_console_sign_in_and_out_through_prefork_workers(node_factory):
    node = node_factory("--workers", "2", "--dns-listen", "off")
    token = setup_enterprise(node, HEAD, "88.118.8")
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(node.http, cookie_jar=jar, timeout=timeout) as browser:
        # a cross-site sign-in is refused by the writer (the header crossed the hop), nothing opened
        reply = await browser.post(
            "/console/signin", data={"credential": token}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert reply.status == 403
        assert "idnode_session" not in {c.key for c in jar}
        # a same-origin one (Origin compared with the forwarded Host) opens a session in the writer
        reply = await browser.post(
            "/console/signin",
            data={"credential": token, "next": "/console/"},
            headers={"Origin": node.http},
            allow_redirects=False,
        )
        assert reply.status == 303, await reply.text()
        assert reply.headers["Location"] == "/console/"
        set_cookie = reply.headers.getone("Set-Cookie")
        assert set_cookie.startswith("idnode_session=")
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/console/" in set_cookie
        # every worker sees the session: several connections, so both workers answer some of them
        pages = []
        for _ in range(6):
            async with aiohttp.ClientSession(node.http, cookie_jar=jar, timeout=timeout) as fresh:
                reply = await fresh.get("/console/", allow_redirects=False)
                assert reply.status == 200
                pages.append(await reply.text())
        assert all("<code>88.118.8</code>" in page and "Co 00Y4" in page for page in pages)
        csrf = _csrf_of(pages[0])
        # a forged sign-out (no token) is refused: still signed in
        reply = await browser.post("/console/signout", data={}, allow_redirects=False)
        assert reply.status == 403
        assert (await browser.get("/console/", allow_redirects=False)).status == 200
        # the real sign-out closes the session in the writer and clears the cookie
        reply = await browser.post("/console/signout", data={"csrf_token": csrf}, allow_redirects=False)
        assert reply.status == 303 and reply.headers["Location"] == "/console/signin"
        cookies = reply.headers.getall("Set-Cookie")
        assert any(c.startswith("idnode_session=") and "Max-Age=0" in c for c in cookies)
        assert any(c.startswith("idnode_flash=") for c in cookies)  # both Set-Cookie headers crossed the hop
        reply = await browser.get("/console/", allow_redirects=False)
        assert reply.status == 303 and reply.headers["Location"].startswith("/console/signin")
        # the HTTP meter counts console requests under their route templates (the worker counts forwarded POSTs)
        exposition = await (await browser.get("/metrics")).text()
        for method, code in (
            ("POST /console/signin", "303"),
            ("POST /console/signin", "403"),
            ("GET /console/", "200"),
        ):
            assert re.search(
                rf'idnode_requests_total\{{code="{code}",frontend="http",method="{re.escape(method)}"\}} [1-9]',
                exposition,
            ), (method, code)


async def test_the_demo_prints_the_console_url_and_its_token_registers_through_the_form(node_factory):
    """The issue's "done when" at the HTTP level: the URL and the token the demo prints are enough to sign in
    and register an identifier through the demo template's form (the browser test does it in Chromium)."""
    node = node_factory("--demo", "--dns-listen", "off")
    node.output.append(node.proc.stdout.readline())  # the line after "HTTP listening on"
    printed = "".join(node.output)
    url = re.search(r"idnode: web console: (http://127\.0\.0\.1:(\d+)/console/) \(sign in with the demo", printed)
    assert url and int(url.group(2)) == node.http_port, printed
    token = re.search(r"demo enterprise token \(also in [^)]*\): (idn1\.\S+)", printed).group(1)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=20)) as browser:
        reply = await browser.get(url.group(1))  # anonymous: the sign-in page
        assert reply.status == 200 and str(reply.url).endswith("/console/signin?next=/console/")
        reply = await browser.post(url.group(1) + "signin", data={"credential": token, "next": "/console/"})
        home = await reply.text()
        assert reply.status == 200 and "<code>88.118.8</code>" in home
        form = await (await browser.get(url.group(1) + "identifier/new?prefix=88.118.8")).text()
        assert 'name="template_version" value="1.0"' in form
        values = {
            "item-0": "https://demo.idnode.example/products/CONSOLE-1",
            "item-1": "Console pump",
            "item-2": "CP-1",
        }
        reply = await browser.post(
            url.group(1) + "identifier/new",
            data={
                "csrf_token": _csrf_of(form),
                "prefix": "88.118.8",
                "suffix": "CONSOLE-1",
                "template_version": "1.0",
                **values,
            },
        )
        page = await reply.text()
        assert reply.status == 200 and "Registered 88.118.8/CONSOLE-1." in page, page[:2000]
        assert "Console pump" in page
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as anyone:
        reply = await anyone.get(f"{node.http}/api/handles/88.118.8/CONSOLE-1")
        assert reply.status == 200
        assert {v["type"] for v in (await reply.json())["values"]} >= {"URL", "productName", "model"}


def test_over_https_the_session_cookie_is_secure_and_the_origin_check_knows_the_scheme(node_factory, tmp_path):
    """A prefork node serving TLS: the writer (behind a plain Unix socket) still marks the cookie Secure and
    compares Origin with https://, because both come from the node's settings, not from the hop."""
    cert, key = self_signed(tmp_path)
    node = node_factory("--workers", "2", "--dns-listen", "off", "--tls-cert", cert, "--tls-key", key)
    token = node.admin_token  # gRPC is TLS too here, so sign in as the node admin rather than set up an enterprise
    context = ssl.create_default_context(cafile=cert)
    origin = f"https://127.0.0.1:{node.http_port}"

    def post_sign_in(origin_header: str) -> http.client.HTTPResponse:
        conn = http.client.HTTPSConnection("127.0.0.1", node.http_port, context=context, timeout=15)
        form = urllib.parse.urlencode({"credential": token})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": origin_header}
        conn.request("POST", "/console/signin", body=form, headers=headers)
        reply = conn.getresponse()
        reply.read()
        conn.close()
        return reply

    assert post_sign_in(origin.replace("https:", "http:")).status == 403  # not this site's scheme
    reply = post_sign_in(origin)
    assert reply.status == 303
    cookie = next(c for c in reply.headers.get_all("Set-Cookie") if c.startswith("idnode_session="))
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    conn = http.client.HTTPSConnection("127.0.0.1", node.http_port, context=context, timeout=15)
    conn.request("GET", "/console/", headers={"Cookie": cookie.split(";")[0]})
    home = conn.getresponse()
    assert home.status == 200 and 'id="role">node-admin<' in home.read().decode()
    conn.close()
