"""Console token pages (resolver/http/console/tokens.py): list, create (shown once), revoke, on a real loopback
server over a seeded registry; the registry is checked for every change and for none after a refusal."""

from __future__ import annotations

import re

import pytest

from idnode.registry.errors import AuthenticationFailed
from idnode.registry.uscc import check_character


async def test_list_create_and_revoke_tokens(console, console_sign_in, seeded):
    registry, owner = seeded.registry, seeded.owner
    csrf = await console_sign_in("owner")
    page = await (await console.get("/console/tokens")).text()
    own_id = seeded.tokens["owner"].split(".")[1]
    assert f"idn1.{own_id}.••••••••" in page and "(This session)" in page
    assert seeded.tokens["owner"] not in page  # never the secret
    assert seeded.tokens["stranger"].split(".")[1] not in page  # nor another enterprise's tokens

    reply = await console.post("/console/tokens", data={"csrf_token": csrf, "label": "<b>line 2</b>"})
    assert reply.status == 200
    page = await reply.text()
    token = re.search(r'<code id="new-token">(idn1\.[0-9a-f]{16}\.[^<]+)</code>', page).group(1)
    assert registry.authenticate(token) == owner.__class__("enterprise", owner.credit_code, token.split(".")[1])
    assert "&lt;b&gt;line 2&lt;/b&gt;" in page and "<b>line 2</b>" not in page
    assert token not in await (await console.get("/console/tokens")).text()  # shown once only

    token_id = token.split(".")[1]
    reply = await console.post("/console/tokens/revoke", data={"token_id": token_id}, allow_redirects=False)
    assert reply.status == 403  # no CSRF token: refused, still valid
    assert registry.authenticate(token).token_id == token_id
    reply = await console.post(
        "/console/tokens/revoke", data={"csrf_token": csrf, "token_id": token_id}, allow_redirects=False
    )
    assert reply.status == 303 and reply.headers["Location"] == "/console/tokens"
    with pytest.raises(AuthenticationFailed, match="revoked"):
        registry.authenticate(token)
    page = await (await console.get("/console/tokens")).text()
    assert f"Revoked token {token_id}." in page and "revoked" in page


async def test_another_enterprises_token_cannot_be_revoked(console, console_sign_in, seeded):
    csrf = await console_sign_in("owner")
    theirs = seeded.tokens["stranger"].split(".")[1]
    reply = await console.post("/console/tokens/revoke", data={"csrf_token": csrf, "token_id": theirs})
    assert reply.status == 404  # the registry does not tell another enterprise's tokens apart from none
    assert seeded.registry.authenticate(seeded.tokens["stranger"]).token_id == theirs


def _ids(page: str) -> set[str]:
    return set(re.findall(r"<code>idn1\.([0-9a-f]{16})\.", page))


async def test_the_auditor_reads_every_token_and_changes_none(console, console_sign_in, seeded):
    registry = seeded.registry
    csrf = await console_sign_in("auditor")
    assert 'href="/console/tokens"' in await (await console.get("/console/")).text()  # in the nav
    page = await (await console.get("/console/tokens?lang=zh")).text()
    every = {t.token_id for t in registry.list_tokens(seeded.principals["admin"])}
    assert _ids(page) == every and len(every) == 4
    assert "全部令牌" in page and "节点管理员" in page and "审计员" in page  # roles shown, in Chinese
    assert 'id="token-form"' not in page and "/console/tokens/revoke" not in page  # no control
    # forged POSTs (with a valid CSRF token) reach the registry, which refuses them
    reply = await console.post("/console/tokens", data={"csrf_token": csrf, "role": "node-admin", "label": "x"})
    assert reply.status == 403 and "您的角色无权执行此操作" in await reply.text()
    assert {t.token_id for t in registry.list_tokens(seeded.principals["admin"])} == every
    theirs = seeded.tokens["owner"].split(".")[1]
    reply = await console.post("/console/tokens/revoke", data={"csrf_token": csrf, "token_id": theirs})
    assert reply.status == 403 and "技术细节" in await reply.text()  # the registry's English under the detail
    assert registry.authenticate(seeded.tokens["owner"]).token_id == theirs


@pytest.mark.parametrize("role", ["auditor", "node-admin"])
async def test_the_node_admin_issues_auditor_and_admin_tokens(console, console_sign_in, seeded, role):
    csrf = await console_sign_in("admin")
    reply = await console.post("/console/tokens", data={"csrf_token": csrf, "role": role, "label": f"new {role}"})
    assert reply.status == 200
    token = re.search(r'<code id="new-token">(idn1\.[0-9a-f]{16}\.[^<]+)</code>', await reply.text()).group(1)
    principal = seeded.registry.authenticate(token)
    assert (principal.role, principal.credit_code) == (role, "")


async def test_the_node_admin_manages_every_token(console, console_sign_in, seeded):
    registry, admin = seeded.registry, seeded.principals["admin"]
    owner_code = seeded.owner.credit_code
    pending = "91440300MA5DC0L7X" + check_character("91440300MA5DC0L7X")
    await registry.add_enterprise(admin, pending, "Pending Co", "ops@pending.example")
    csrf = await console_sign_in("admin")
    page = await (await console.get("/console/tokens")).text()
    assert _ids(page) == {t.token_id for t in registry.list_tokens(admin)}
    assert 'id="token-form"' in page and f'<option value="{owner_code}">' in page
    assert f'<option value="{pending}">' not in page  # only approved enterprises are offered
    before = len(registry.list_tokens(admin))
    # an enterprise token for the approved owner
    data = {"csrf_token": csrf, "role": "enterprise", "credit_code": owner_code, "label": "line 3"}
    reply = await console.post("/console/tokens", data=data)
    token = re.search(r'<code id="new-token">(idn1\.[0-9a-f]{16}\.[^<]+)</code>', await reply.text()).group(1)
    assert registry.authenticate(token) == seeded.owner.__class__("enterprise", owner_code, token.split(".")[1])
    # a pending enterprise, or none: refused before the registry, nothing issued
    for code in (pending, ""):
        data = {"csrf_token": csrf, "role": "enterprise", "credit_code": code, "label": "no"}
        reply = await console.post("/console/tokens", data=data)
        assert reply.status == 400 and "Choose an approved enterprise" in await reply.text()
    assert len(registry.list_tokens(admin)) == before + 1
    # an unknown role: the registry refuses it
    reply = await console.post("/console/tokens", data={"csrf_token": csrf, "role": "root", "label": "no"})
    assert reply.status == 400 and len(registry.list_tokens(admin)) == before + 1
    # revoke another enterprise's token
    theirs = seeded.tokens["stranger"].split(".")[1]
    reply = await console.post(
        "/console/tokens/revoke", data={"csrf_token": csrf, "token_id": theirs}, allow_redirects=False
    )
    assert reply.status == 303
    with pytest.raises(AuthenticationFailed, match="revoked"):
        registry.authenticate(seeded.tokens["stranger"])


async def test_an_enterprise_cannot_choose_another_role(console, console_sign_in, seeded):
    csrf = await console_sign_in("owner")
    page = await (await console.get("/console/tokens")).text()
    assert 'id="role"' not in page and 'id="credit_code"' not in page
    data = {"csrf_token": csrf, "role": "node-admin", "credit_code": seeded.tokens["stranger"], "label": "x"}
    reply = await console.post("/console/tokens", data=data)
    token = re.search(r'<code id="new-token">(idn1\.[0-9a-f]{16}\.[^<]+)</code>', await reply.text()).group(1)
    principal = seeded.registry.authenticate(token)
    assert (principal.role, principal.credit_code) == ("enterprise", seeded.owner.credit_code)
