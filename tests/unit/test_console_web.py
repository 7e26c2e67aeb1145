"""The console framework (resolver/http/console): sign-in, cookies, CSRF, sign-out, language, escaping, headers.

On a real loopback aiohttp server over a seeded registry (real LMDB); the
whole-node test with prefork workers is tests/node/test_console_node.py.
"""

from __future__ import annotations

import dataclasses
import re
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from idnode.registry.errors import AuthenticationFailed
from idnode.resolver.http.console import web as cw
from idnode.resolver.http.server import RUNNER_ARGS, build_app
from idnode.settings import Settings


async def _client(registry, settings) -> TestClient:
    return await _client_of_app(build_app(registry, settings))


async def _client_of_app(app) -> TestClient:
    server = TestServer(app)
    await server.start_server(**RUNNER_ARGS)
    return TestClient(server)


def _set_cookies(reply) -> dict[str, SimpleCookie]:
    """Every Set-Cookie of a reply by cookie name (the raw morsels, flags included)."""
    out = {}
    for header in reply.headers.getall("Set-Cookie", ()):
        jar = SimpleCookie()
        jar.load(header)
        for name in jar:
            out[name] = jar
    return out


async def sign_in(client: TestClient, credential: str, **extra) -> tuple[int, str, str]:
    """``(status, session id or "", body)`` of a sign-in form post (no redirect followed)."""
    reply = await client.post("/console/signin", data={"credential": credential, **extra}, allow_redirects=False)
    cookies = _set_cookies(reply)
    session = cookies[cw.SESSION_COOKIE][cw.SESSION_COOKIE].value if cw.SESSION_COOKIE in cookies else ""
    return reply.status, session, await reply.text()


def _csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
    assert match, "no CSRF field in the page"
    return match.group(1)


def _sessions(registry) -> int:
    with registry.store.begin() as txn:
        return txn.stat(registry.store.dbs["sessions"])["entries"]


async def test_sign_in_sets_a_strict_http_only_console_cookie_and_home_shows_the_enterprise(console, seeded):
    reply = await console.post("/console/signin", data={"credential": seeded.tokens["owner"]}, allow_redirects=False)
    assert reply.status == 303
    assert reply.headers["Location"] == "/console/"
    morsel = _set_cookies(reply)[cw.SESSION_COOKIE][cw.SESSION_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/console/"
    assert not morsel["secure"]  # plain HTTP here; see the TLS test
    assert 0 < int(morsel["max-age"]) <= 3600
    assert seeded.registry.authenticate_session(morsel.value) == seeded.owner
    home = await console.get("/console/", allow_redirects=False)
    assert home.status == 200
    page = await home.text()
    assert "Enterprise " + seeded.owner.credit_code[-4:] in page  # the enterprise's name
    assert "<code>88.118.8</code>" in page and "88.118.9" not in page  # its prefix only
    assert re.search(r'<td class="status-approved">approved</td><td class="num">2</td>', page)  # 2 live handles
    assert 'id="role">enterprise<' in page


async def test_signing_in_again_ends_the_previous_session(console, seeded):
    _, first, _ = await sign_in(console, seeded.tokens["owner"])
    _, second, _ = await sign_in(console, seeded.tokens["stranger"])  # the jar sends the first session's cookie
    assert first and second and first != second
    with pytest.raises(AuthenticationFailed):
        seeded.registry.authenticate_session(first)
    assert seeded.registry.authenticate_session(second) == seeded.principals["stranger"]


async def test_sign_in_as_a_handle_identity(console, seeded):
    status, session, _ = await sign_in(console, seeded.tokens["owner"], identity="300:88.118.8/ADMIN")
    assert status == 303 and seeded.registry.authenticate_session(session) == seeded.owner
    status, session, page = await sign_in(console, seeded.tokens["owner"], identity="300:88.118.9/ADMIN")
    assert status == 403 and not session
    assert "may not act as 300:88.118.9/ADMIN" in page


@pytest.mark.parametrize("credential", ["idn1.0123456789abcdef.wrong", "not-a-credential", ""])
async def test_a_bad_credential_shows_the_form_again_and_opens_no_session(console, seeded, credential):
    before = _sessions(seeded.registry)
    status, session, page = await sign_in(console, credential, identity="300:88.118.8/ADMIN")
    assert status == (400 if not credential else 403)
    assert not session
    assert 'role="alert"' in page and 'value="300:88.118.8/ADMIN"' in page  # the identity is kept
    assert credential not in page or not credential  # the credential is never echoed
    assert _sessions(seeded.registry) == before


async def test_a_revoked_credential_ends_the_console_session_and_cannot_sign_in(console, seeded):
    issued = await seeded.registry.create_token(seeded.principals["admin"], "enterprise", seeded.owner.credit_code)
    status, session, _ = await sign_in(console, issued.token)
    assert status == 303
    assert (await console.get("/console/", allow_redirects=False)).status == 200
    assert await seeded.registry.revoke_token(seeded.principals["admin"], issued.token_id)
    reply = await console.get("/console/", allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] == "/console/signin?next=/console/"
    status, session, page = await sign_in(console, issued.token)
    assert status == 403 and not session and "revoked" in page
    console.session.cookie_jar.update_cookies({"lang": "zh"})
    status, session, page = await sign_in(console, issued.token)
    shown = re.search(
        r'id="signin-error">([^<]*)</p>\s*<details class="error-detail"><summary>技术细节</summary>', page
    )
    assert status == 403 and shown.group(1) == "凭据未被接受：凭据错误、已过期或已被撤销。" and "revoked" in page


async def test_the_session_cookie_is_secure_when_the_node_serves_tls(seeded, tmp_path):
    settings = dataclasses.replace(Settings(data_dir=tmp_path), tls_cert=Path(tmp_path / "cert.pem"))
    async with await _client(seeded.registry, settings) as client:
        reply = await client.post("/console/signin", data={"credential": seeded.tokens["owner"]}, allow_redirects=False)
        assert reply.status == 303
        assert _set_cookies(reply)[cw.SESSION_COOKIE][cw.SESSION_COOKIE]["secure"] is True


async def test_anonymous_pages_redirect_to_sign_in_and_come_back(console, seeded):
    reply = await console.get("/console/", allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] == "/console/signin?next=/console/"
    assert (await console.get("/console", allow_redirects=False)).headers["Location"] == "/console/"
    form = await console.get("/console/signin?next=/console/", allow_redirects=False)
    assert form.status == 200
    assert 'name="next" value="/console/"' in await form.text()
    for hostile in ("//evil.example/x", "https://evil.example/", "/elsewhere"):
        status, _, _ = await sign_in(console, seeded.tokens["owner"], next=hostile)
        assert status == 303
    reply = await console.post(
        "/console/signin",
        data={"credential": seeded.tokens["owner"], "next": "//evil.example/"},
        allow_redirects=False,
    )
    assert reply.headers["Location"] == "/console/"


async def test_every_post_without_the_right_csrf_token_is_refused_and_changes_nothing(console, seeded):
    status, session, _ = await sign_in(console, seeded.tokens["owner"])
    assert status == 303
    home = await (await console.get("/console/")).text()
    token = _csrf_of(home)
    assert token == cw.csrf_token(session)
    for data, headers in (({}, {}), ({"csrf_token": "0" * 64}, {}), ({}, {"X-CSRF-Token": "x"})):
        reply = await console.post("/console/signout", data=data, headers=headers, allow_redirects=False)
        assert reply.status == 403
        assert "did not come from this console" in await reply.text()
        assert seeded.registry.authenticate_session(session) == seeded.owner  # still signed in
    # a token of another session does not fit this one
    other, _ = await seeded.registry.open_session(seeded.principals["stranger"])
    console.session.cookie_jar.clear()
    console.session.cookie_jar.update_cookies({cw.SESSION_COOKIE: session})
    reply = await console.post("/console/signout", data={"csrf_token": cw.csrf_token(other)}, allow_redirects=False)
    assert reply.status == 403
    assert seeded.registry.authenticate_session(session) == seeded.owner


async def test_sign_out_closes_the_session_server_side_and_clears_the_cookie(console, seeded):
    _, session, _ = await sign_in(console, seeded.tokens["owner"])
    token = _csrf_of(await (await console.get("/console/")).text())
    reply = await console.post("/console/signout", data={"csrf_token": token}, allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] == "/console/signin"
    cleared = _set_cookies(reply)[cw.SESSION_COOKIE][cw.SESSION_COOKIE]
    assert cleared.value == "" and int(cleared["max-age"]) == 0 and cleared["path"] == "/console/"
    with pytest.raises(AuthenticationFailed):
        seeded.registry.authenticate_session(session)
    page = await (await console.get("/console/signin")).text()
    assert "You are signed out." in page  # the flash message, once
    assert "You are signed out." not in await (await console.get("/console/signin")).text()
    # the old id is useless even when replayed
    console.session.cookie_jar.clear()
    console.session.cookie_jar.update_cookies({cw.SESSION_COOKIE: session})
    reply = await console.get("/console/", allow_redirects=False)
    assert reply.status == 303


async def test_the_sign_in_form_refuses_cross_site_posts(console, seeded):
    before = _sessions(seeded.registry)
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
    ):
        reply = await console.post(
            "/console/signin", data={"credential": seeded.tokens["owner"]}, headers=headers, allow_redirects=False
        )
        assert reply.status == 403, headers
        assert cw.SESSION_COOKIE not in _set_cookies(reply)
    assert _sessions(seeded.registry) == before
    origin = f"http://{console.host}:{console.port}"
    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": origin}):
        reply = await console.post(
            "/console/signin", data={"credential": seeded.tokens["owner"]}, headers=headers, allow_redirects=False
        )
        assert reply.status == 303, headers


async def test_language_follows_accept_language_and_a_lang_switch_sticks(console):
    zh = await console.get("/console/signin", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    page = await zh.text()
    assert '<html lang="zh-CN">' in page and "<h1>登录</h1>" in page
    en = await console.get("/console/signin", headers={"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"})
    assert '<html lang="en">' in await en.text()
    switched = await console.get("/console/signin?lang=en", headers={"Accept-Language": "zh-CN"})
    assert "<h1>Sign in</h1>" in await switched.text()
    morsel = _set_cookies(switched)["lang"]["lang"]
    assert morsel.value == "en" and morsel["path"] == "/"
    # the cookie (kept by the client's jar) wins over the browser's Accept-Language from now on
    again = await console.get("/console/signin", headers={"Accept-Language": "zh-CN"})
    assert "<h1>Sign in</h1>" in await again.text()
    back = await console.get("/console/signin?lang=zh")
    assert "<h1>登录</h1>" in await back.text()
    assert "<h1>登录</h1>" in await (await console.get("/console/signin")).text()


async def test_user_supplied_text_is_escaped(console, seeded):
    status, _, page = await sign_in(console, seeded.tokens["owner"], identity="<script>alert(1)</script>")
    assert status == 403
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_pages_carry_the_strict_content_security_policy(console, seeded):
    reply = await console.get("/console/signin")
    assert reply.headers["Content-Security-Policy"] == (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["Cache-Control"] == "no-store"
    page = await reply.text()
    assert "<script>" not in page and " style=" not in page  # nothing inline the CSP would block
    assert '<a class="skip" href="#main">' in page and '<main id="main"' in page
    assert all(f'for="{i}"' in page and f'id="{i}"' in page for i in ("credential", "identity"))


async def test_static_files_are_served_locally_with_cache_headers(console):
    css = await console.get("/console/static/console.css")
    assert css.status == 200 and css.content_type == "text/css"
    assert "prefers-color-scheme: dark" in await css.text()
    etag = css.headers["ETag"]
    assert (await console.get("/console/static/console.css", headers={"If-None-Match": etag})).status == 304
    js = await console.get("/console/static/console.js")
    assert js.status == 200 and js.content_type == "text/javascript"
    for missing in ("/console/static/nope.css", "/console/static/..%2fweb.py", "/console/static/.hidden"):
        assert (await console.get(missing)).status == 404


async def test_unknown_console_paths_are_html_404s_not_handles(console):
    reply = await console.get("/console/no-such-page")
    assert reply.status == 404 and reply.content_type == "text/html"
    assert "No such page." in await reply.text()
    assert (await console.get("/88.118.8/JXDY2106023?noredirect")).status == 200  # the catch-all still works


async def test_an_unexpected_failure_is_an_html_500_page_and_a_log_line(seeded, tmp_path, caplog):
    app = build_app(seeded.registry, Settings(data_dir=tmp_path))

    async def broken(request):
        raise RuntimeError("a bug in a console page")

    app.router.add_get("/console/broken", broken)  # a page with a bug, behind the console's middleware
    async with await _client_of_app(app) as client:
        reply = await client.get("/console/broken", headers={"Accept-Language": "zh-CN"})
        assert reply.status == 500 and reply.content_type == "text/html"
        page = await reply.text()
        assert "请求失败" in page and "a bug in a console page" not in page  # no internals shown
    assert any("console GET /console/broken failed" in r.getMessage() for r in caplog.records)


def test_the_shared_macros_render_tables_status_buttons_and_errors():
    """templates/_macros.html, which the pages import (their own tests check them in place): false columns left
    out, a screen-reader-only header, the CSRF token and hidden fields in a one-button form, everything escaped."""
    from idnode.resolver.http.console import i18n

    page = cw.environment().from_string(
        '{% import "_macros.html" as m with context %}'
        '{% call m.table("t", ["A<", False, ("Hidden",)], caption="C&", body_id="rows") %}<tr><td>1</td></tr>'
        "{% endcall %}|{{ m.status_cell('approved') }}|{% call m.status_cell('pending') %} (x){% endcall %}"
        '|{{ m.post_button("/console/x", "Go", {"id": "<1>"}, "danger", "Go 1", confirm="Sure?") }}'
        '|{{ m.post_button("/console/y", "Del", form_class="") }}|{{ m.error("") }}|{{ m.error("<bad>", "e") }}'
    )
    flat = re.sub(r">\s+<", "><", page.render(lang="zh", csrf_token="c5f"))
    table, approved, pending, button, bare, no_error, error = flat.split("|")
    assert table == (
        '<div class="scroll"><table id="t"><caption>C&amp;</caption><thead><tr><th scope="col">A&lt;</th>'
        '<th scope="col"><span class="visually-hidden">Hidden</span></th></tr></thead>'
        '<tbody id="rows"><tr><td>1</td></tr></tbody></table></div>'
    )
    assert i18n.translate("zh", "approved") != "approved"  # the status is translated, in the page's language
    assert approved == f'<td class="status-approved">{i18n.translate("zh", "approved")}</td>'
    assert pending == f'<td class="status-pending">{i18n.translate("zh", "pending")} (x)</td>'
    assert button == (
        '<form method="post" action="/console/x" class="inline">'
        f'<input type="hidden" name="{cw.CSRF_FIELD}" value="c5f"><input type="hidden" name="id" value="&lt;1&gt;">'
        '<button type="submit" class="danger" aria-label="Go 1" data-confirm="Sure?">Go</button></form>'
    )
    assert bare.startswith('<form method="post" action="/console/y"><input type="hidden"')
    assert bare.endswith('<button type="submit">Del</button></form>')
    assert no_error == "" and error == '<p class="error" role="alert" id="e">&lt;bad&gt;</p>'
