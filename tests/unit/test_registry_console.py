"""Registry additions for the web console: ``list_tokens`` and ``browse_handles`` (a key-range scan, paged)."""

from __future__ import annotations

import itertools

import pytest

from idnode.registry.auth import ANONYMOUS
from idnode.registry.errors import AuthenticationNeeded, InsufficientPermissions, InvalidHandle, InvalidValue
from idnode.registry.model import IdentifierWrite
from idnode.registry.values import Value


async def test_list_tokens_shows_an_enterprise_its_own_and_the_admin_and_auditor_every_one(seeded):
    reg, p = seeded.registry, seeded.principals
    owner_code, stranger_code = p["owner"].credit_code, p["stranger"].credit_code
    issued = await reg.create_token(p["owner"], "enterprise", label="line 2 scanner")
    mine = reg.list_tokens(p["owner"])
    assert {t.token_id for t in mine} == {seeded.tokens["owner"].split(".")[1], issued.token_id}
    assert [(t.created, t.token_id) for t in mine] == sorted((t.created, t.token_id) for t in mine)  # oldest first
    assert all(t.credit_code == owner_code and t.role == "enterprise" for t in mine)
    new = next(t for t in mine if t.token_id == issued.token_id)
    assert new.label == "line 2 scanner" and new.created > 0 and new.revoked == 0
    assert not any(issued.token.split(".")[2] in repr(t) for t in mine)  # no secret in what is shown
    everyone = reg.list_tokens(p["admin"])
    assert {t.credit_code for t in everyone} >= {owner_code, stranger_code, ""}
    assert len(everyone) == 5  # owner x2, stranger, admin, auditor
    assert await reg.revoke_token(p["owner"], issued.token_id)
    assert next(t for t in reg.list_tokens(p["owner"]) if t.token_id == issued.token_id).revoked > 0
    assert reg.list_tokens(p["auditor"]) == reg.list_tokens(p["admin"])  # read-only: it may not create or revoke
    with pytest.raises(InsufficientPermissions):
        await reg.create_token(p["auditor"], "auditor")
    with pytest.raises(InsufficientPermissions):
        await reg.revoke_token(p["auditor"], issued.token_id)
    with pytest.raises(AuthenticationNeeded):
        reg.list_tokens(ANONYMOUS)


async def test_browse_handles_by_suffix_start_in_pages(seeded):
    reg, owner = seeded.registry, seeded.owner
    for suffix in ("A-1", "A-2", "A-3", "A-4", "A-5", "B-1", "a-6"):
        await reg.create(owner, IdentifierWrite(f"88.118.8/{suffix}", (Value(1, "URL", b"https://x/1"),)))
    await reg.delete(owner, "88.118.8/A-3")  # a tombstone is skipped
    assert reg.browse_handles(owner, "88.118.8", "A-", limit=2) == (["88.118.8/A-1", "88.118.8/A-2"], "A-2")
    assert reg.browse_handles(owner, "88.118.8", "A-", after="A-2", limit=2) == (["88.118.8/A-4", "88.118.8/A-5"], "")
    assert reg.browse_handles(owner, "88.118.8", "A-", after="A-5", limit=2) == ([], "")
    assert reg.browse_handles(owner, "88.118.8", "a-") == (["88.118.8/a-6"], "")  # suffixes are case-sensitive
    everything, more = reg.browse_handles(owner, "88.118.8", limit=100)
    assert more == "" and everything == sorted(everything) and len(everything) == 8  # 6 live + 2 seeded
    assert "88.118.8/GONE" not in everything
    assert reg.browse_handles(seeded.principals["auditor"], "88.118.8", "B") == (["88.118.8/B-1"], "")
    with pytest.raises(InsufficientPermissions):
        reg.browse_handles(seeded.principals["stranger"], "88.118.8")
    with pytest.raises(AuthenticationNeeded):
        reg.browse_handles(ANONYMOUS, "88.118.8")
    with pytest.raises(InvalidValue):
        reg.browse_handles(owner, "88.118.8", limit=0)
    with pytest.raises(InvalidHandle):
        reg.browse_handles(owner, "not a prefix!")


async def test_browse_handles_before_pages_backwards_at_the_start_middle_and_end(seeded):
    reg, owner = seeded.registry, seeded.owner
    for suffix in ("A-1", "A-2", "A-3", "A-4", "A-5", "A-6", "A-7", "B-1", "a-8"):
        await reg.create(owner, IdentifierWrite(f"88.118.8/{suffix}", (Value(1, "URL", b"https://x/1"),)))
    await reg.delete(owner, "88.118.8/A-3")  # a tombstone is skipped going backwards too

    def back(before: str, starts_with: str = "A-", limit: int = 2):
        handles, previous = reg.browse_handles_before(owner, "88.118.8", starts_with, before, limit)
        return [h.partition("/")[2] for h in handles], previous

    assert back("") == (["A-6", "A-7"], "A-6")  # the end: the last page, B-1 and a-8 are outside "A-"
    assert back("A-6") == (["A-4", "A-5"], "A-4")  # the middle, across the tombstone
    assert back("A-4") == (["A-1", "A-2"], "")  # the start: a whole page, and nothing before it
    assert back("A-2") == (["A-1"], "") and back("A-1") == ([], "")
    assert back("A-45") == (["A-2", "A-4"], "A-2")  # `before` need not exist
    assert back("Z") == back("")  # past the scope: its last page
    assert back("", "a-") == (["a-8"], "")  # case-sensitive, like forward
    # backwards from each forward page's first handle gives the forward page before it
    forward, after = [], ""
    while True:
        page, after = reg.browse_handles(owner, "88.118.8", "", after, 3)
        forward.append(page)
        if not after:
            break
    assert len(forward) == 4 and sum(map(len, forward)) == 10  # 8 live here + 2 seeded
    for earlier, later in itertools.pairwise(forward):
        assert reg.browse_handles_before(owner, "88.118.8", "", later[0].partition("/")[2], 3)[0] == earlier
    everything, previous = reg.browse_handles_before(owner, "88.118.8", limit=100)
    assert previous == "" and everything == [h for page in forward for h in page]
    with pytest.raises(InsufficientPermissions):
        reg.browse_handles_before(seeded.principals["stranger"], "88.118.8")
    with pytest.raises(AuthenticationNeeded):
        reg.browse_handles_before(ANONYMOUS, "88.118.8")
    with pytest.raises(InvalidValue):
        reg.browse_handles_before(owner, "88.118.8", limit=0)
    with pytest.raises(InvalidHandle):
        reg.browse_handles_before(owner, "88.118.8", before="bad\x00suffix")
