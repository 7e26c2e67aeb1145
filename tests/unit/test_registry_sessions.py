"""Registry additions for the Handle.Net REST API (registry/_sessions.py, update mode merge)."""

from __future__ import annotations

import time

import pytest

from idnode.registry.auth import ANONYMOUS
from idnode.registry.errors import (
    AuthenticationFailed,
    AuthenticationNeeded,
    InsufficientPermissions,
    InvalidHandle,
    InvalidValue,
)
from idnode.registry.model import IdentifierUpdate, IdentifierWrite
from idnode.registry.values import Value

PRODUCT = "88.118.8/JXDY2106023"


def test_identities_of_each_role(seeded):
    reg, p = seeded.registry, seeded.principals
    assert reg.identities_of(p["owner"]) == ("300:88.118.8/ADMIN",)
    assert reg.identities_of(p["stranger"]) == ("300:88.118.9/ADMIN",)
    assert reg.identities_of(p["admin"]) == ("300:0.na/88.118", "300:88.118.8/ADMIN", "300:88.118.9/ADMIN")
    assert reg.identities_of(p["auditor"]) == ("300:0.na/88.118",)
    assert reg.identities_of(ANONYMOUS) == ()


@pytest.mark.parametrize(
    ("identity", "user", "ok"),
    [
        ("", "owner", True),
        ("300:88.118.8/ADMIN", "owner", True),
        ("0300:88.118.8/ADMIN", "owner", True),  # the index is a number
        ("300:88.118.9/ADMIN", "owner", False),
        ("300:0.NA/88.118", "owner", False),
        ("300:0.NA/88.118", "admin", True),
        ("300:88.118.9/ADMIN", "admin", True),
        ("300:0.NA/88.118", "auditor", True),
        ("300:88.118.8/ADMIN", "auditor", False),
        ("88.118.8/ADMIN", "owner", False),
        ("x:88.118.8/ADMIN", "owner", False),
        ("300:", "owner", False),
    ],
)
def test_authenticate_as(seeded, identity, user, ok):
    token = seeded.tokens[user]
    if ok:
        assert seeded.registry.authenticate_as(identity, token) == seeded.principals[user]
    else:
        with pytest.raises(AuthenticationFailed):
            seeded.registry.authenticate_as(identity, token)


async def test_sessions_open_check_expire_close(seeded):
    reg, owner = seeded.registry, seeded.owner
    with pytest.raises(AuthenticationNeeded):
        await reg.open_session(ANONYMOUS)
    sid, expires = await reg.open_session(owner)
    assert expires - time.time() == pytest.approx(3600, abs=5)
    assert reg.authenticate_session(sid) == owner
    assert reg.session_expires(sid) == expires
    with pytest.raises(AuthenticationFailed, match="expired"):
        reg.authenticate_session(sid, now=expires)
    for bad in ("", "x" * 300, sid + "x"):
        with pytest.raises(AuthenticationFailed):
            reg.authenticate_session(bad)
    assert await reg.close_session(sid) is True
    assert await reg.close_session(sid) is False
    with pytest.raises(AuthenticationFailed, match="closed"):
        reg.authenticate_session(sid)


async def test_a_session_ends_with_its_credential_and_expired_ones_are_purged(seeded):
    reg, admin = seeded.registry, seeded.principals["admin"]
    issued = await reg.create_token(admin, "enterprise", seeded.owner.credit_code)
    principal = reg.authenticate(issued.token)
    sid, _ = await reg.open_session(principal)
    old, _ = await reg.open_session(principal, ttl=0)  # expired at once
    await reg.revoke_token(admin, issued.token_id)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        reg.authenticate_session(sid)
    assert reg.session_expires(old) > 0
    await reg.open_session(admin)  # opening purges expired sessions
    assert reg.session_expires(old) == 0 and reg.session_expires(sid) > 0


async def test_list_handles(seeded):
    reg, p = seeded.registry, seeded.principals
    assert reg.list_handles(p["owner"], "88.118.8") == (2, [PRODUCT, "88.118.8/SECRET"])  # GONE is a tombstone
    assert reg.list_handles(p["owner"], "88.118.8", 1, 1) == (2, ["88.118.8/SECRET"])
    assert reg.list_handles(p["owner"], "88.118.8", 5, 1) == (2, [])
    assert reg.list_handles(p["auditor"], "88.118.8", 0, 0) == (2, [])
    assert reg.list_handles(p["admin"], "0.NA", 0, 0) == (2, [])  # no counter: counted by a scan
    assert reg.list_handles(p["admin"], "88.118.7") == (0, [])
    with pytest.raises(AuthenticationNeeded):
        reg.list_handles(ANONYMOUS, "88.118.8")
    with pytest.raises(InsufficientPermissions):
        reg.list_handles(p["stranger"], "88.118.8")
    with pytest.raises(InvalidHandle):
        reg.list_handles(p["admin"], "a/b")
    for page, size in ((-1, 1), (0, -1), (0, 10001)):
        with pytest.raises(InvalidValue):
            reg.list_handles(p["admin"], "88.118.8", page, size)


async def test_update_mode_merge_adds_and_replaces(seeded):
    reg, owner = seeded.registry, seeded.owner
    await reg.update(owner, IdentifierUpdate(PRODUCT, "merge", (Value(2, "productName", b"pump"), Value(9, "X", b"9"))))
    values = reg.get_record(owner, PRODUCT).values
    assert [v.index for v in values] == [1, 2, 3, 4, 9, 100]
    assert values[1].data == b"pump" and values[0] == seeded.product[0]
    await reg.create(owner, IdentifierWrite("88.118.8/M", (Value(1, "URL", b"u"),)))
    await reg.update(owner, IdentifierUpdate("88.118.8/M", "merge", (Value(1, "URL", b"v"),)))
    assert reg.get_record(owner, "88.118.8/M").values[0].data == b"v"
