"""Principals, credentials, tokens, the verified-token cache and the permission matrix."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading

import pytest

from idnode.registry.auth import (
    ANONYMOUS,
    ROLES,
    Credential,
    Principal,
    VerifiedCache,
    check_write_under,
    issue_credential,
    may_read_private,
    require_authenticated,
    require_role,
    split_token,
    verify_secret,
)
from idnode.registry.errors import (
    AuthenticationFailed,
    AuthenticationNeeded,
    InsufficientPermissions,
    InvalidValue,
)

CODE = "914403001922038216"
OTHER = "9144030071526726XG"
TID = "0123456789abcdef"
NOW = 1_700_000_000


# -- principals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "principal, actor, anonymous, admin",
    [
        (ANONYMOUS, "anonymous", True, False),
        (Principal("node-admin", token_id=TID), f"node-admin/{TID}", False, True),
        (Principal("auditor", token_id=TID), f"auditor/{TID}", False, False),
        (Principal("enterprise", CODE, TID), f"enterprise/{TID}@{CODE}", False, False),
    ],
)
def test_principal_properties(principal, actor, anonymous, admin):
    assert principal.actor == actor
    assert principal.is_anonymous is anonymous
    assert principal.is_admin is admin


@pytest.mark.parametrize(
    "args, message",
    [
        (("root",), "unknown role 'root'"),
        (("enterprise", "", TID), "an enterprise needs a credit code"),
        (("auditor", CODE, TID), "role auditor takes no credit code"),
        (("anonymous", "", TID), "anonymous has no token id"),
    ],
)
def test_principal_rejects(args, message):
    with pytest.raises(InvalidValue, match=message):
        Principal(*args)


def test_principal_is_frozen_and_slotted():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ANONYMOUS.role = "node-admin"  # type: ignore[misc]
    assert not hasattr(ANONYMOUS, "__dict__")


# -- tokens and credentials ------------------------------------------------------------


def test_issue_and_verify_sha256():
    token, cred = issue_credential("enterprise", CODE, "ERP connector", NOW)
    token_id, secret = split_token(token)
    assert token == f"idn1.{cred.token_id}.{secret}"
    assert token_id == cred.token_id and len(token_id) == 16
    assert cred.kind == "sha256" and cred.salt == b""
    assert cred.digest == hashlib.sha256(secret.encode()).digest()
    assert secret not in cred.to_bytes().decode()
    assert (cred.role, cred.credit_code, cred.label, cred.created, cred.revoked) == (
        "enterprise",
        CODE,
        "ERP connector",
        NOW,
        0,
    )
    assert cred.principal() == Principal("enterprise", CODE, token_id)
    assert verify_secret(cred, secret)


def test_issue_normalises_credit_code():
    _, cred = issue_credential("enterprise", " 9144030071526726xg ", "", NOW)
    assert cred.credit_code == OTHER


def test_tokens_are_unique():
    tokens = {issue_credential("auditor", "", "", NOW)[0] for _ in range(50)}
    assert len(tokens) == 50


def test_tampered_secret_fails():
    token, cred = issue_credential("auditor", "", "", NOW)
    _, secret = split_token(token)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for wrong in (flipped, secret[:-1], secret + "x", "", "x" * 300):
        assert not verify_secret(cred, wrong)
    assert not verify_secret(cred, 12345)  # type: ignore[arg-type]


def test_revoked_fails():
    token, cred = issue_credential("node-admin", "", "", NOW)
    _, secret = split_token(token)
    assert verify_secret(cred, secret)
    assert not verify_secret(dataclasses.replace(cred, revoked=NOW + 1), secret)


def test_scrypt_path_round_trip():
    # The only scrypt calls in this file (about 50 ms each).
    token, cred = issue_credential("node-admin", "", "bootstrap", NOW, slow=True)
    _, secret = split_token(token)
    assert cred.kind == "scrypt" and len(cred.salt) == 16 and len(cred.digest) == 32
    assert cred.digest != hashlib.sha256(secret.encode()).digest()
    stored = Credential.from_bytes(cred.to_bytes())
    assert stored == cred
    assert verify_secret(stored, secret)
    assert not verify_secret(stored, secret[:-1] + ("A" if secret[-1] != "A" else "B"))


@pytest.mark.parametrize(
    "role, code, label, message",
    [
        ("root", "", "", "unknown role 'root'"),
        ("anonymous", "", "", "unknown role 'anonymous'"),
        ("enterprise", "", "", "an enterprise credential needs a credit code"),
        ("enterprise", "914403001922038217", "", "check character should be '6', got '7'"),
        ("auditor", CODE, "", "role auditor takes no credit code"),
        ("node-admin", CODE, "", "role node-admin takes no credit code"),
        ("auditor", "", "x" * 201, "label has 201 characters, at most 200"),
        ("auditor", "", "a\nb", "label has a control character"),
    ],
)
def test_issue_rejects(role, code, label, message):
    with pytest.raises(InvalidValue) as info:
        issue_credential(role, code, label, NOW)
    assert message in info.value.message


def test_credential_bytes_round_trip():
    _, cred = issue_credential("enterprise", CODE, "标签 label", NOW)
    cred = dataclasses.replace(cred, revoked=NOW + 5)
    data = cred.to_bytes()
    assert b" " not in data.replace("标签 label".encode(), b"")  # compact
    assert Credential.from_bytes(data) == cred
    assert Credential.from_bytes(memoryview(data)) == cred  # LMDB buffers


def _cred(**changes) -> Credential:
    base = dict(
        token_id=TID,
        role="auditor",
        credit_code="",
        label="",
        kind="sha256",
        digest=b"\x00" * 32,
        salt=b"",
        created=NOW,
        revoked=0,
    )
    base.update(changes)
    return Credential(**base)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"token_id": "0123456789ABCDEF"}, "token id must be 16 lowercase hex"),
        ({"token_id": "0123"}, "token id must be 16 lowercase hex"),
        ({"kind": "md5"}, "unknown kind 'md5'"),
        ({"digest": b"\x00" * 31}, "digest must be 32 bytes"),
        ({"kind": "scrypt"}, "a scrypt credential needs a salt of 16 bytes"),
        ({"salt": b"x"}, "a sha256 credential needs a salt of 0 bytes"),
        ({"created": -1}, "created must be a non-negative integer"),
        ({"revoked": True}, "revoked must be a non-negative integer"),
        ({"role": "enterprise"}, "needs a credit code"),
    ],
)
def test_credential_rejects(changes, message):
    with pytest.raises(InvalidValue, match=message):
        _cred(**changes)


def _record(**changes) -> bytes:
    obj = json.loads(_cred().to_bytes())
    obj.update(changes)
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"not json", "credential record is not valid JSON"),
        (b"[1]", "credential record must be a JSON object, got list"),
        (b'{"token_id":"0123456789abcdef"}', "credential record: role is missing"),
        (_cred().to_bytes().replace(b'"digest":"', b'"digest":"!'), "credential record: digest is not valid base64"),
        (_cred().to_bytes().replace(b'"salt":""', b'"salt":5'), "credential record: salt must be base64 text"),
        (_record(created="1700000000"), "created must be a non-negative integer"),
        (_record(kind="plain"), "unknown kind 'plain'"),
    ],
)
def test_credential_from_bytes_rejects(data, message):
    with pytest.raises(InvalidValue, match=message):
        Credential.from_bytes(data)


# -- split_token -----------------------------------------------------------------------


SECRET = "s3cr3t-Value_with-urlsafe-chars"


@pytest.mark.parametrize(
    "token, expected",
    [
        (f"idn1.{TID}.{SECRET}", (TID, SECRET)),
        (f"idn1.{TID}.x", (TID, "x")),
        (f"idn1.{TID}.a.b", (TID, "a.b")),  # the secret is everything after the second dot
        ("idn1." + TID + "." + "s" * (256 - 22), (TID, "s" * 234)),  # exactly 256 characters
    ],
)
def test_split_token(token, expected):
    assert split_token(token) == expected


@pytest.mark.parametrize(
    "token, message",
    [
        ("", "expected idn1.<token id>.<secret>"),
        (SECRET, "expected idn1.<token id>.<secret>"),
        (f"idn2.{TID}.{SECRET}", "expected idn1.<token id>.<secret>"),
        (f"IDN1.{TID}.{SECRET}", "expected idn1.<token id>.<secret>"),
        (f"Bearer idn1.{TID}.{SECRET}", "expected idn1.<token id>.<secret>"),
        ("idn1", "expected idn1.<token id>.<secret>"),
        (f"idn1.{TID[:-1]}.{SECRET}", "token id must be 16 lowercase hex characters"),
        (f"idn1.{TID}0.{SECRET}", "token id must be 16 lowercase hex characters"),
        (f"idn1.{TID.upper()}.{SECRET}", "token id must be 16 lowercase hex characters"),
        (f"idn1.0123456789abcdeg.{SECRET}", "token id must be 16 lowercase hex characters"),
        (f"idn1..{SECRET}", "token id must be 16 lowercase hex characters"),
        (f"idn1.{TID}", "empty secret"),
        (f"idn1.{TID}.", "empty secret"),
        (f"idn1.{TID}.{SECRET} ", "secret must be printable ASCII without spaces"),
        (f"idn1.{TID}.{SECRET}\n", "secret must be printable ASCII without spaces"),
        (f"idn1.{TID}.密码", "secret must be printable ASCII without spaces"),
        ("idn1." + TID + "." + "s" * (257 - 22), "257 characters, at most 256 allowed"),
        (None, "expected text, got NoneType"),
    ],
)
def test_split_token_rejects(token, message):
    with pytest.raises(AuthenticationFailed) as info:
        split_token(token)
    assert info.value.code == 403
    assert info.value.message == f"malformed credential: {message}"


def test_messages_never_contain_the_secret():
    for token in (f"idn1.{TID}.{SECRET} ", f"idn2.{TID}.{SECRET}", f"idn1.{TID[:-1]}.{SECRET}"):
        with pytest.raises(AuthenticationFailed) as info:
            split_token(token)
        assert SECRET not in str(info.value)


# -- VerifiedCache ----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_ttl():
    clock = FakeClock()
    cache = VerifiedCache(ttl=300, clock=clock)
    token = f"idn1.{TID}.{SECRET}"
    assert cache.get(token) is None
    cache.put(token, TID)
    assert cache.get(token) == TID
    assert cache.get(token + "x") is None  # a different secret is a different entry
    clock.now += 299.9
    assert cache.get(token) == TID
    clock.now += 0.1
    assert cache.get(token) is None
    assert len(cache) == 0  # the expired entry was dropped


def test_cache_put_again_renews():
    clock = FakeClock()
    cache = VerifiedCache(ttl=300, clock=clock)
    cache.put("t", TID)
    clock.now += 200
    cache.put("t", TID)
    clock.now += 200
    assert cache.get("t") == TID


def test_cache_is_bounded_oldest_first():
    cache = VerifiedCache(max_entries=3, clock=FakeClock())
    for i in range(5):
        cache.put(f"t{i}", f"{i:016x}")
    assert len(cache) == 3
    assert [cache.get(f"t{i}") for i in range(5)] == [None, None, f"{2:016x}", f"{3:016x}", f"{4:016x}"]


def test_cache_default_bound():
    cache = VerifiedCache(clock=FakeClock())
    for i in range(4100):
        cache.put(f"t{i}", TID)
    assert len(cache) == 4096


def test_cache_forget():
    cache = VerifiedCache(clock=FakeClock())
    other = "fedcba9876543210"
    cache.put("a", TID)
    cache.put("b", TID)
    cache.put("c", other)
    cache.forget(TID)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, other)
    cache.forget("unknown")  # no error


def test_cache_does_not_keep_the_token():
    cache = VerifiedCache(clock=FakeClock())
    cache.put(f"idn1.{TID}.{SECRET}", TID)
    assert SECRET not in repr(cache._entries)


def test_cache_threads():
    cache = VerifiedCache(max_entries=100)

    def work(n: int) -> None:
        for i in range(500):
            cache.put(f"{n}-{i}", TID)
            cache.get(f"{n}-{i - 1}")
            if i % 50 == 0:
                cache.forget(TID)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) <= 100


# -- permission matrix -----------------------------------------------------------------


ADMIN = Principal("node-admin", token_id=TID)
AUDITOR = Principal("auditor", token_id=TID)
OWNER = Principal("enterprise", CODE, TID)
STRANGER = Principal("enterprise", OTHER, TID)
PREFIX = "88.118.8"

OK, NEED, DENY = "ok", 402, 401

# principal, owner of PREFIX, write outcome (and message), may read private
MATRIX = [
    (ANONYMOUS, CODE, NEED, "", False),
    (ANONYMOUS, None, NEED, "", False),
    (AUDITOR, CODE, DENY, "auditors are read-only", True),
    (AUDITOR, None, DENY, "auditors are read-only", True),
    (ADMIN, CODE, OK, "", True),
    (ADMIN, None, OK, "", True),
    (OWNER, CODE, OK, "", True),
    (OWNER, None, DENY, f"prefix {PREFIX} is not allocated to enterprise {CODE}", False),
    (STRANGER, CODE, DENY, f"enterprise {OTHER} may not write under prefix {PREFIX}", False),
    (STRANGER, None, DENY, f"prefix {PREFIX} is not allocated to enterprise {OTHER}", False),
]


@pytest.mark.parametrize("principal, owner, write, message, read", MATRIX)
def test_check_write_under(principal, owner, write, message, read):
    if write == OK:
        check_write_under(principal, PREFIX, owner)
        return
    with pytest.raises((AuthenticationNeeded, InsufficientPermissions)) as info:
        check_write_under(principal, PREFIX, owner)
    assert info.value.code == write
    if message:
        assert info.value.message == message


@pytest.mark.parametrize("principal, owner, write, message, read", MATRIX)
def test_may_read_private(principal, owner, write, message, read):
    assert may_read_private(principal, owner) is read


def test_enterprise_never_matches_empty_owner():
    assert not may_read_private(OWNER, "")
    with pytest.raises(InsufficientPermissions):
        check_write_under(OWNER, PREFIX, "")


PRINCIPALS = {"anonymous": ANONYMOUS, "node-admin": ADMIN, "auditor": AUDITOR, "enterprise": OWNER}


@pytest.mark.parametrize(
    "who, roles, outcome",
    [
        ("anonymous", ("node-admin",), NEED),
        ("anonymous", ROLES, NEED),
        ("node-admin", ("node-admin",), OK),
        ("node-admin", ("node-admin", "auditor"), OK),
        ("auditor", ("node-admin", "auditor"), OK),
        ("auditor", ("node-admin",), DENY),
        ("enterprise", ("node-admin", "auditor"), DENY),
        ("enterprise", ("enterprise",), OK),
        ("node-admin", (), DENY),
    ],
)
def test_require_role(who, roles, outcome):
    principal = PRINCIPALS[who]
    if outcome == OK:
        require_role(principal, *roles)
        return
    with pytest.raises((AuthenticationNeeded, InsufficientPermissions)) as info:
        require_role(principal, *roles)
    assert info.value.code == outcome
    if outcome == DENY and roles:
        assert info.value.message == f"role {who} may not do this; needs {' or '.join(roles)}"


@pytest.mark.parametrize("who", list(PRINCIPALS))
def test_require_authenticated(who):
    if who == "anonymous":
        with pytest.raises(AuthenticationNeeded) as info:
            require_authenticated(PRINCIPALS[who])
        assert info.value.code == 402
    else:
        require_authenticated(PRINCIPALS[who])
