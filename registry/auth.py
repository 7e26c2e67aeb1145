"""Principals, stored credentials, bearer tokens and the authorization predicates.

One authorization model serves every front end (DESIGN.md, "Authorization
model"): a request is made by a :class:`Principal` (a role, an enterprise's
credit code, the token that proved it); the predicates at the bottom decide
what it may do, given the owner of the prefix concerned, which the caller
looks up in the store.

Tokens read ``idn1.<token_id>.<secret>``. Only a digest of the secret is
stored: SHA-256 for random API tokens (high entropy, so a fast hash is
safe), scrypt for the node-admin credential and any human-chosen secret.
No message ever contains a secret.
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from idnode.registry.errors import (
    AuthenticationFailed,
    AuthenticationNeeded,
    InsufficientPermissions,
    InvalidValue,
)
from idnode.registry.uscc import validate_credit_code

__all__ = [
    "ANONYMOUS",
    "ANONYMOUS_ROLE",
    "KINDS",
    "MAX_LABEL_CHARS",
    "MAX_TOKEN_CHARS",
    "ROLES",
    "TOKEN_SCHEME",
    "Credential",
    "Principal",
    "VerifiedCache",
    "check_write_under",
    "is_token_id",
    "issue_credential",
    "may_read_private",
    "require_authenticated",
    "require_role",
    "split_token",
    "verify_secret",
]

ROLES = ("node-admin", "enterprise", "auditor")
ANONYMOUS_ROLE = "anonymous"
KINDS = ("sha256", "scrypt")
TOKEN_SCHEME = "idn1"
MAX_TOKEN_CHARS = 256
MAX_LABEL_CHARS = 200
TOKEN_ID_CHARS = 16  # secrets.token_hex(8)
DIGEST_BYTES = 32
SALT_BYTES = 16
# scrypt cost: 16 MiB and roughly 50 ms per check; VerifiedCache keeps that
# to once per token per TTL.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1

_TOKEN_ID = re.compile(r"[0-9a-f]{16}", re.ASCII)


def is_token_id(text: str) -> bool:
    """True when ``text`` has the form of a token id (:data:`TOKEN_ID_CHARS` lowercase hex characters)."""
    return _TOKEN_ID.fullmatch(text) is not None


# -- principals -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request.

    Attributes:
        role: one of :data:`ROLES`, or ``"anonymous"``.
        credit_code: the enterprise's unified social credit code; set for
            (and only for) the ``enterprise`` role.
        token_id: the credential that authenticated the request; empty for
            anonymous.

    Raises:
        InvalidValue (202): at construction, for an unknown role, an
        enterprise without a credit code or another role with one, or an
        anonymous principal with a token id.
    """

    role: str
    credit_code: str = ""
    token_id: str = ""

    def __post_init__(self) -> None:
        if self.role != ANONYMOUS_ROLE and self.role not in ROLES:
            raise InvalidValue(f"principal: unknown role {self.role!r}, expected one of {', '.join(ROLES)}")
        if self.role == "enterprise" and not self.credit_code:
            raise InvalidValue("principal: an enterprise needs a credit code")
        if self.role != "enterprise" and self.credit_code:
            raise InvalidValue(f"principal: role {self.role} takes no credit code")
        if self.role == ANONYMOUS_ROLE and self.token_id:
            raise InvalidValue("principal: anonymous has no token id")

    @property
    def actor(self) -> str:
        """Who did it, for logs and the change log: ``role/token_id[@credit_code]``."""
        if self.role == ANONYMOUS_ROLE:
            return ANONYMOUS_ROLE
        actor = f"{self.role}/{self.token_id}"
        return f"{actor}@{self.credit_code}" if self.credit_code else actor

    @property
    def is_anonymous(self) -> bool:
        return self.role == ANONYMOUS_ROLE

    @property
    def is_admin(self) -> bool:
        return self.role == "node-admin"


ANONYMOUS = Principal(ANONYMOUS_ROLE)


# -- stored credentials ---------------------------------------------------------------


def _check_role_and_code(role: Any, credit_code: Any, where: str) -> None:
    if role not in ROLES:
        raise InvalidValue(f"{where}: unknown role {role!r}, expected one of {', '.join(ROLES)}")
    if not isinstance(credit_code, str):
        raise InvalidValue(f"{where}: credit code must be text, got {type(credit_code).__name__}")
    if role == "enterprise" and not credit_code:
        raise InvalidValue(f"{where}: an enterprise credential needs a credit code")
    if role != "enterprise" and credit_code:
        raise InvalidValue(f"{where}: role {role} takes no credit code")


def _check_label(label: Any, where: str) -> None:
    if not isinstance(label, str):
        raise InvalidValue(f"{where}: label must be text, got {type(label).__name__}")
    if len(label) > MAX_LABEL_CHARS:
        raise InvalidValue(f"{where}: label has {len(label)} characters, at most {MAX_LABEL_CHARS} allowed")
    if not label.isprintable():
        raise InvalidValue(f"{where}: label has a control character")


@dataclasses.dataclass(frozen=True, slots=True)
class Credential:
    """What the store keeps for one issued token (never the secret itself).

    Attributes:
        token_id: 16 lowercase hex characters, the public part of the token.
        role: one of :data:`ROLES`.
        credit_code: the enterprise's code for role ``enterprise``, else empty.
        label: free text chosen by the issuer (at most 200 characters).
        kind: ``"sha256"`` (digest = SHA-256 of the secret, empty salt) or
            ``"scrypt"`` (digest = scrypt of the secret with ``salt``).
        digest: 32 bytes.
        salt: empty for sha256, 16 bytes for scrypt.
        created: seconds since 1970 UTC.
        revoked: seconds since 1970 UTC when revoked; 0 = active.

    Raises:
        InvalidValue (202): at construction, for any field out of range.
    """

    token_id: str
    role: str
    credit_code: str
    label: str
    kind: str
    digest: bytes
    salt: bytes
    created: int
    revoked: int = 0

    def __post_init__(self) -> None:
        where = "credential"
        if not isinstance(self.token_id, str) or not _TOKEN_ID.fullmatch(self.token_id):
            raise InvalidValue(f"{where}: token id must be {TOKEN_ID_CHARS} lowercase hex characters")
        where = f"credential {self.token_id}"
        _check_role_and_code(self.role, self.credit_code, where)
        _check_label(self.label, where)
        if self.kind not in KINDS:
            raise InvalidValue(f"{where}: unknown kind {self.kind!r}, expected one of {', '.join(KINDS)}")
        if not isinstance(self.digest, bytes) or len(self.digest) != DIGEST_BYTES:
            raise InvalidValue(f"{where}: digest must be {DIGEST_BYTES} bytes")
        salt_bytes = SALT_BYTES if self.kind == "scrypt" else 0
        if not isinstance(self.salt, bytes) or len(self.salt) != salt_bytes:
            raise InvalidValue(f"{where}: a {self.kind} credential needs a salt of {salt_bytes} bytes")
        for name, number in (("created", self.created), ("revoked", self.revoked)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise InvalidValue(f"{where}: {name} must be a non-negative integer, got {number!r}")

    @property
    def active(self) -> bool:
        return self.revoked == 0

    def principal(self) -> Principal:
        """The principal this credential authenticates."""
        return Principal(self.role, self.credit_code, self.token_id)

    def to_bytes(self) -> bytes:
        """Compact UTF-8 JSON; ``digest`` and ``salt`` in standard base64."""
        obj = {
            "token_id": self.token_id,
            "role": self.role,
            "credit_code": self.credit_code,
            "label": self.label,
            "kind": self.kind,
            "digest": base64.b64encode(self.digest).decode(),
            "salt": base64.b64encode(self.salt).decode(),
            "created": self.created,
            "revoked": self.revoked,
        }
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Credential:
        """Decode :meth:`to_bytes` output.

        Raises:
            InvalidValue (202): not JSON, a field missing or of the wrong
            type, or a value the constructor rejects. A store reading its own
            record may prefer to report this as a server error.
        """
        try:
            obj = json.loads(bytes(data))
        except (ValueError, TypeError) as exc:
            raise InvalidValue(f"credential record is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise InvalidValue(f"credential record must be a JSON object, got {type(obj).__name__}")
        fields = {}
        for field in dataclasses.fields(cls):
            if field.name not in obj:
                raise InvalidValue(f"credential record: {field.name} is missing")
            fields[field.name] = obj[field.name]
        for name in ("digest", "salt"):
            if not isinstance(fields[name], str):
                raise InvalidValue(f"credential record: {name} must be base64 text")
            try:
                fields[name] = base64.b64decode(fields[name], validate=True)
            except binascii.Error:
                raise InvalidValue(f"credential record: {name} is not valid base64") from None
        return cls(**fields)


# -- tokens ---------------------------------------------------------------------------


def split_token(token: str) -> tuple[str, str]:
    """Split ``idn1.<token_id>.<secret>`` into ``(token_id, secret)``.

    The token id is 16 lowercase hex characters; the secret is everything
    after the second dot and must be non-empty printable ASCII without
    spaces. The transport strips ``Bearer`` and surrounding whitespace
    first.

    Raises:
        AuthenticationFailed (403): ``malformed credential: ...`` naming the
        problem (never quoting the token).
    """
    if not isinstance(token, str):
        raise AuthenticationFailed(f"malformed credential: expected text, got {type(token).__name__}")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationFailed(f"malformed credential: {len(token)} characters, at most {MAX_TOKEN_CHARS} allowed")
    scheme, dot, rest = token.partition(".")
    if scheme != TOKEN_SCHEME or not dot:
        raise AuthenticationFailed(f"malformed credential: expected {TOKEN_SCHEME}.<token id>.<secret>")
    token_id, dot, secret = rest.partition(".")
    if not _TOKEN_ID.fullmatch(token_id):
        raise AuthenticationFailed(f"malformed credential: token id must be {TOKEN_ID_CHARS} lowercase hex characters")
    if not dot or not secret:
        raise AuthenticationFailed("malformed credential: empty secret")
    if not (secret.isascii() and secret.isprintable()) or " " in secret:
        raise AuthenticationFailed("malformed credential: secret must be printable ASCII without spaces")
    return token_id, secret


def _digest(kind: str, secret: str, salt: bytes) -> bytes:
    raw = secret.encode()
    if kind == "scrypt":
        return hashlib.scrypt(raw, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=DIGEST_BYTES)
    return hashlib.sha256(raw).digest()


def issue_credential(
    role: str, credit_code: str, label: str, now: int, *, slow: bool = False
) -> tuple[str, Credential]:
    """Make a new random token and the credential to store for it.

    Args:
        role: one of :data:`ROLES`.
        credit_code: required for ``enterprise`` (validated and normalised
            with :func:`~idnode.registry.uscc.validate_credit_code`), empty
            otherwise.
        label: free text for listings, at most 200 characters.
        now: seconds since 1970 UTC, stored as ``created``.
        slow: store an scrypt digest instead of SHA-256 (the node-admin
            credential).

    Returns:
        ``(token, credential)``: the whole ``idn1.<id>.<secret>`` string, to
        show once and never store, and the :class:`Credential` to store.

    Raises:
        InvalidValue (202): unknown role, a credit code missing, invalid or
        given for a role that takes none, a bad label or ``now``.
    """
    where = "new credential"
    _check_role_and_code(role, credit_code, where)
    if role == "enterprise":
        credit_code = validate_credit_code(credit_code)
    _check_label(label, where)
    token_id = secrets.token_hex(TOKEN_ID_CHARS // 2)
    secret = secrets.token_urlsafe(32)
    kind = "scrypt" if slow else "sha256"
    salt = secrets.token_bytes(SALT_BYTES) if slow else b""
    credential = Credential(
        token_id=token_id,
        role=role,
        credit_code=credit_code,
        label=label,
        kind=kind,
        digest=_digest(kind, secret, salt),
        salt=salt,
        created=now,
    )
    return f"{TOKEN_SCHEME}.{token_id}.{secret}", credential


def verify_secret(credential: Credential, secret: str) -> bool:
    """True when ``secret`` matches the credential and it is not revoked.

    The digest comparison is constant-time. A secret that is not text, or
    longer than :data:`MAX_TOKEN_CHARS`, gives False without hashing.
    """
    if credential.revoked or not isinstance(secret, str) or len(secret) > MAX_TOKEN_CHARS:
        return False
    return hmac.compare_digest(_digest(credential.kind, secret, credential.salt), credential.digest)


class VerifiedCache:
    """Recently verified whole tokens, so a slow (scrypt) check runs once per TTL.

    Keyed by the SHA-256 of the whole token (the token itself is not kept),
    mapping to its token id. Bounded: when full, the oldest entry goes. All
    methods are thread-safe. Only successful verifications go in; the caller
    must still load the credential (role, revocation) on every request, and
    calls :meth:`forget` when it revokes a token.

    Args:
        max_entries: the bound (default 4096).
        ttl: seconds an entry stays valid (default 300).
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(
        self, max_entries: int = 4096, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_entries
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (token_id, expires); insertion order is expiry order since
        # every entry gets the same TTL and re-puts move to the end.
        self._entries: collections.OrderedDict[bytes, tuple[str, float]] = collections.OrderedDict()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, token: str) -> str | None:
        """The token id of a token verified within the TTL, else None."""
        key = self._key(token)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= now:
                del self._entries[key]
                return None
            return entry[0]

    def put(self, token: str, token_id: str) -> None:
        """Remember that ``token`` verified as ``token_id`` (now, for one TTL)."""
        key = self._key(token)
        expires = self._clock() + self._ttl
        with self._lock:
            self._entries[key] = (token_id, expires)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def forget(self, token_id: str) -> None:
        """Drop every entry of ``token_id`` (on revoke)."""
        with self._lock:
            for key in [k for k, (tid, _) in self._entries.items() if tid == token_id]:
                del self._entries[key]


# -- authorization predicates -------------------------------------------------------------


def require_authenticated(p: Principal) -> None:
    """Raises AuthenticationNeeded (402) for the anonymous principal."""
    if p.is_anonymous:
        raise AuthenticationNeeded("authentication needed: anonymous requests may not do this")


def require_role(p: Principal, *roles: str) -> None:
    """Require one of ``roles``.

    Raises:
        AuthenticationNeeded (402): anonymous.
        InsufficientPermissions (401): another role; the message names the
        roles that may.
    """
    require_authenticated(p)
    if p.role not in roles:
        needed = " or ".join(roles) if roles else "no role"
        raise InsufficientPermissions(f"role {p.role} may not do this; needs {needed}")


def check_write_under(p: Principal, prefix: str, owner: str | None) -> None:
    """May ``p`` write identifiers (or templates) under ``prefix``?

    Args:
        p: the principal.
        prefix: the normalised prefix written under.
        owner: the credit code of the enterprise the prefix is allocated to,
            or None when it is not allocated.

    Raises:
        AuthenticationNeeded (402): anonymous.
        InsufficientPermissions (401): an auditor (read-only); an enterprise
        that does not own the prefix, or when the prefix is not allocated.
        The node admin may always write.
    """
    require_authenticated(p)
    if p.role == "auditor":
        raise InsufficientPermissions("auditors are read-only")
    if p.is_admin:
        return
    if owner is None:
        raise InsufficientPermissions(f"prefix {prefix} is not allocated to enterprise {p.credit_code}")
    if owner != p.credit_code:
        raise InsufficientPermissions(f"enterprise {p.credit_code} may not write under prefix {prefix}")


def may_read_private(p: Principal, owner: str | None) -> bool:
    """May ``p`` see values without public read permission under a prefix owned by ``owner``?

    True for the node admin and auditors, for an enterprise only when it owns
    the prefix; False for anonymous and when ``owner`` is None for an
    enterprise.
    """
    if p.role in ("node-admin", "auditor"):
        return True
    return p.role == "enterprise" and owner is not None and owner == p.credit_code
