"""The console's operator pages on a real prefork node: review, prefixes, templates, dashboard, roles, CSRF."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest

from idnode.proto import registry_pb2
from tests.node.conftest import Node, TopNode, auth, credit_code, setup_enterprise
from tests.node.test_outbox_node import decide

pytestmark = pytest.mark.node

OPS = "/console/operator/"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
WRITE_FORM = re.compile(r'<form method="post" action="/console/operator/')


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = Node(tmp_path_factory.mktemp("console-ops") / "data", "--demo", "--map-size", "64MiB", "--workers", "2")
    node.start(timeout=300)
    try:
        yield node
    finally:
        node.stop()


class Console:
    """A browser-like client: a cookie jar, sign-in, the CSRF token of the last page, form posts."""

    def __init__(self, node: Node, session: aiohttp.ClientSession) -> None:
        self.node, self.session, self.csrf = node, session, ""

    async def sign_in(self, credential: str) -> None:
        async with self.session.post(
            self.node.http + "/console/signin", data={"credential": credential}, allow_redirects=False
        ) as r:
            assert r.status == 303, await r.text()

    async def get(self, path: str, **params: str) -> tuple[int, str]:
        async with self.session.get(self.node.http + path, params=params, allow_redirects=False) as r:
            text = await r.text()
            found = CSRF.search(text)
            if found:
                self.csrf = found.group(1)
            return r.status, text

    async def post(self, path: str, data: dict[str, str], *, csrf: str | None = None) -> tuple[int, str, str]:
        form = dict(data, csrf_token=self.csrf if csrf is None else csrf)
        async with self.session.post(self.node.http + path, data=form, allow_redirects=False) as r:
            return r.status, await r.text(), r.headers.get("Location", "")


@pytest.fixture
async def console(node):
    sessions = []

    async def make(credential: str) -> Console:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        client = Console(node, session)
        await client.sign_in(credential)
        await client.get(OPS + "enterprises")
        return client

    yield make
    for session in sessions:
        await session.close()


def auditor_token(node: Node) -> str:
    reg = node.registry()
    return reg.CreateToken(
        registry_pb2.CreateTokenRequest(role="auditor", label="console"), metadata=auth(node.admin_token)
    ).token


def enterprise_status(node: Node, code: str) -> str | None:
    reg = node.registry()
    for e in reg.ListEnterprises(registry_pb2.ListEnterprisesRequest(), metadata=auth(node.admin_token)).enterprises:
        if e.credit_code == code:
            return registry_pb2.EnterpriseStatus.Name(e.status)
    return None


async def test_admin_adds_reviews_approves_and_allocates(node, console):
    admin = await console(node.admin_token)
    code = credit_code("91440300MA5F00001")
    status, page, where = await admin.post(
        OPS + "enterprises", {"credit_code": code, "name": "<b>Pump</b> Co", "contact": "ops@pump.example"}
    )
    assert (status, where) == (303, OPS + "enterprises")
    status, page = await admin.get(OPS + "enterprises")
    assert status == 200
    assert "Enterprise " + code + " added; it is pending review." in page  # the flash message
    pending = page.split('id="pending"', 1)[1].split("</table>", 1)[0]
    assert code in pending and "Check character valid" in pending and "check-ok" in pending
    assert "&lt;b&gt;Pump&lt;/b&gt; Co" in page and "<b>Pump</b>" not in page  # names are text, never markup
    assert enterprise_status(node, code) == "ENTERPRISE_STATUS_PENDING"

    status, _, where = await admin.post(OPS + f"enterprises/{code}/status", {"status": "approved"})
    assert (status, where) == (303, OPS + "enterprises")
    assert enterprise_status(node, code) == "ENTERPRISE_STATUS_APPROVED"
    _, page = await admin.get(OPS + "enterprises")
    assert code not in page.split('id="pending-title"', 1)[1].split('id="all-title"', 1)[0]

    await admin.get(OPS + "prefixes")
    status, _, _ = await admin.post(OPS + "prefixes", {"credit_code": code, "prefix": "88.118.77"})
    assert status == 303
    _, page = await admin.get(OPS + "prefixes")
    row = page.split('data-prefix="88.118.77"', 1)[1].split("</tr>", 1)[0]
    assert code in row and "status-approved" in row  # stand-alone: the node admin's allocation is final
    status, _, _ = await admin.post(OPS + "prefixes", {"credit_code": code, "prefix": ""})  # the next free one
    assert status == 303
    status, page, _ = await admin.post(OPS + "prefixes", {"credit_code": code, "prefix": "88.200.1"})
    assert status == 400 and "not under this node" in page and "This node is not responsible" in page

    status, _, _ = await admin.post(OPS + f"enterprises/{code}/status", {"status": "suspended"})
    assert status == 303 and enterprise_status(node, code) == "ENTERPRISE_STATUS_SUSPENDED"


async def test_invalid_credit_code_is_refused_clearly_and_changes_nothing(node, console):
    admin = await console(node.admin_token)
    good = credit_code("91440300MA5F00002")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    status, page, _ = await admin.post(OPS + "enterprises", {"credit_code": bad, "name": "Bad Co", "contact": ""})
    assert status == 400
    assert f"Check character should be {good[-1]}, got {bad[-1]}" in page
    assert 'aria-invalid="true"' in page and 'value="Bad Co"' in page  # the form keeps what was typed
    assert enterprise_status(node, bad) is None and enterprise_status(node, good) is None
    status, page, _ = await admin.post(
        OPS + "enterprises?lang=zh", {"credit_code": "9144", "name": "Bad Co", "contact": ""}
    )
    assert status == 400 and "统一社会信用代码无效：应为 18 位，实为 4 位" in page


async def test_csrf_is_required_on_every_form(node, console):
    admin = await console(node.admin_token)
    code = credit_code("91440300MA5F00003")
    for token in ("", "0" * 64):
        status, page, _ = await admin.post(
            OPS + "enterprises", {"credit_code": code, "name": "X", "contact": ""}, csrf=token
        )
        assert status == 403 and "reload the page" in page
    assert enterprise_status(node, code) is None


async def test_auditor_sees_everything_read_only(node, console):
    auditor = await console(auditor_token(node))
    for path in ("enterprises", "prefixes", "templates?prefix=88.118.8", "dashboard"):
        status, page = await auditor.get(OPS + path)
        assert status == 200, path
        assert not WRITE_FORM.search(page), path  # no write control rendered
        assert "read-only" in page or path == "dashboard"
    codes = re.findall(r'data-code="([0-9A-Z]{18})"', (await auditor.get(OPS + "enterprises"))[1])
    assert codes, "the auditor sees the enterprises"
    before = enterprise_status(node, codes[0])
    # a forged POST with a valid CSRF token: the registry refuses it (403) and nothing changes
    status, page, _ = await auditor.post(OPS + f"enterprises/{codes[0]}/status", {"status": "suspended"})
    assert status == 403 and "Your role may not do this" in page
    assert enterprise_status(node, codes[0]) == before
    status, _, _ = await auditor.post(
        OPS + "enterprises", {"credit_code": credit_code("91440300MA5F00004"), "name": "A"}
    )
    assert status == 403


async def test_enterprise_role_may_not_open_operator_pages(node, console):
    token = setup_enterprise(node, "91440300MA5F00005", "88.118.90")
    company = await console(token)
    for path in ("enterprises", "prefixes", "templates", "dashboard"):
        status, _ = await company.get(OPS + path)
        assert status == 403, path
    status, _, _ = await company.post(OPS + "prefixes", {"credit_code": credit_code("91440300MA5F00005")})
    assert status == 403
    async with (  # not signed in: to the sign-in page
        aiohttp.ClientSession() as anonymous,
        anonymous.get(node.http + OPS + "dashboard", allow_redirects=False) as r,
    ):
        assert r.status == 303 and r.headers["Location"].startswith("/console/signin")


async def test_templates_create_view_and_delete(node, console):
    setup_enterprise(node, "91440300MA5F00006", "88.118.91")
    admin = await console(node.admin_token)
    status, page = await admin.get(OPS + "templates", prefix="88.118.91")
    assert status == 200 and 'id="no-versions"' in page
    form = {
        "version": "1.0",
        "description": "pumps",
        "item-0-name": "productName",
        "item-0-required": "on",
        "item-0-type": "string",
        "item-0-min": "1",
        "item-0-max": "50",
        "item-0-index": "2",
        "item-1-name": "weight",
        "item-1-type": "number",
        "item-2-name": "",  # an empty row is ignored
    }
    status, _, where = await admin.post(OPS + "templates/88.118.91", form)
    assert (status, where) == (303, OPS + "templates?prefix=88.118.91")
    reg = node.registry()
    stored = reg.GetTemplate(
        registry_pb2.GetTemplateRequest(prefix="88.118.91", version="1.0"), metadata=auth(node.admin_token)
    )
    assert [(i.name, i.required, i.min_length, i.max_length, i.index) for i in stored.items] == [
        ("productName", True, 1, 50, 2),
        ("weight", False, 0, 0, 0),
    ]
    status, page = await admin.get(OPS + "templates/88.118.91/1.0")
    assert status == 200 and "productName" in page and "weight" in page
    # the same version with other items: 409, the form comes back with what was typed
    status, page, _ = await admin.post(OPS + "templates/88.118.91", dict(form, **{"item-1-type": "integer"}))
    assert status == 409 and "This exists already" in page and 'value="weight"' in page
    status, page, _ = await admin.post(
        OPS + "templates/88.118.91", dict(form, version="2.0", **{"item-0-type": "colour"})
    )
    assert status == 400 and "The input is not valid" in page
    status, page, _ = await admin.post(OPS + "templates/88.118.91", dict(form, version="2.0", **{"item-0-min": "x"}))
    assert status == 400 and "minimum length must be a whole number" in page
    status, _, _ = await admin.post(OPS + "templates/88.118.91/1.0/delete", {})
    assert status == 303
    status, page = await admin.get(OPS + "templates/88.118.91/1.0")
    assert status == 404


async def test_dashboard_draws_the_node_s_own_statistics(node, console):
    admin = await console(node.admin_token)
    status, page = await admin.get(OPS + "dashboard", days="7")
    assert status == 200
    async with aiohttp.ClientSession() as anonymous:  # some traffic over HTTP: answers and one error
        for n in range(1, 6):
            async with anonymous.get(f"{node.http}/api/handles/88.118.8/DEMO-{n:06d}") as r:
                assert r.status == 200
        async with anonymous.get(f"{node.http}/api/handles/88.118.8/NO-SUCH-ONE") as r:
            assert r.status == 404
    deadline = time.monotonic() + 20  # workers hand their counts to the writer once a second
    while time.monotonic() < deadline:
        status, page = await admin.get(OPS + "dashboard", days="7")
        total = int(re.search(r'id="total-resolutions">([\d,]+)<', page).group(1).replace(",", ""))
        if total >= 5:
            break
        await asyncio.sleep(0.5)
    assert total >= 5, page
    for chart in (
        "chart-resolutions",
        "chart-registrations",
        "chart-prefixes",
        "chart-errors",
        "chart-error-ratio",
        "chart-lmdb",
    ):
        assert f'id="{chart}"' in page
    resolutions = page.split('id="chart-resolutions"', 1)[1].split("</figure>", 1)[0]
    assert "<polyline" in resolutions and "no data yet" not in resolutions
    prefixes = page.split('id="chart-prefixes"', 1)[1].split("</figure>", 1)[0]
    assert 'class="bar series-2"' in prefixes and "88.118.8" in prefixes  # http is the third front end
    registrations = page.split('id="chart-registrations"', 1)[1].split("</figure>", 1)[0]
    assert "<polyline" in registrations  # the demo's 10,000 registrations today
    assert "style=" not in page.split("<main", 1)[1]  # the CSP forbids inline styles
    status, page = await admin.get(OPS + "dashboard", days="90", prefix="88.118.8")
    assert status == 200 and '<option value="88.118.8" selected>' in page
    status, page = await admin.get(OPS + "dashboard", days="5")
    assert status == 400


async def test_forwarded_cookies_never_leak_between_users(node):
    """The worker -> writer forwarder keeps no cookie jar: a cookie the writer sets for one user (here the
    language) must not come back on another user's forwarded request."""
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection per request: every worker sees some
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as first:
        for _ in range(8):
            async with first.post(node.http + OPS + "enterprises?lang=zh", data={}) as r:
                assert r.status == 403 and '<html lang="zh-CN">' in await r.text()
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as second:
        for _ in range(4):
            async with second.post(node.http + OPS + "enterprises", data={}) as r:
                assert r.status == 403 and '<html lang="en">' in await r.text()


async def test_with_a_top_node_a_new_prefix_shows_pending_until_the_top_node_approves(tmp_path):
    top = TopNode(tmp_path / "top").start()
    node = Node(tmp_path / "node", "--top", f"127.0.0.1:{top.port}", "--workers", "1", "--grace", "2")
    try:
        node.start()
        code = credit_code("91440300MA5F00007")
        reg = node.registry()
        admin_md = auth(node.admin_token)
        reg.AddEnterprise(registry_pb2.Enterprise(credit_code=code, name="Top Co", contact=""), metadata=admin_md)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            admin = Console(node, session)
            await admin.sign_in(node.admin_token)
            status, page = await admin.get(OPS + "prefixes")
            assert status == 200 and 'id="top-note"' in page
            status, _, _ = await admin.post(OPS + "prefixes", {"credit_code": code, "prefix": "88.118.55"})
            assert status == 303
            _, page = await admin.get(OPS + "prefixes")
            row = page.split('data-prefix="88.118.55"', 1)[1].split("</tr>", 1)[0]
            assert "status-pending" in row and "pending at the top-level node" in row
            _, page = await admin.get(OPS + "dashboard", days="7")
            assert f"to 127.0.0.1:{top.port}:" in page  # the upward sync and its lag
            decide(top, node, "88.118.55")
            _, page = await admin.get(OPS + "prefixes")
            row = page.split('data-prefix="88.118.55"', 1)[1].split("</tr>", 1)[0]
            assert "status-approved" in row and "pending at the top-level node" not in row
    finally:
        node.stop()
        top.stop()
