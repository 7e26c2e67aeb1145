"""Console token pages (resolver/http/console/tokens.py): list, create (shown once), revoke, on a real loopback
server over a seeded registry; the registry is checked for every change and for none after a refusal."""

from __future__ import annotations

import re

import pytest

from idnode.registry.errors import AuthenticationFailed


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


async def test_only_enterprises_have_the_token_pages(console, console_sign_in):
    await console_sign_in("auditor")
    reply = await console.get("/console/tokens")
    assert reply.status == 403 and "Your role may not open this page." in await reply.text()
    assert 'href="/console/tokens"' not in await (await console.get("/console/")).text()  # not in the nav
