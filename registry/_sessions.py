"""Registry part: Handle REST sessions, Handle admin identities and handle listings by prefix.

The Handle.Net REST API names its callers by a Handle admin identity
(``<index>:<handle>``, e.g. ``300:88.118.8/ADMIN``) and lets them open
sessions. Here both map onto the node's own credentials:

- an identity is one the node writes into its prefix handles' ``HS_ADMIN``
  values: ``300:<P>/ADMIN`` acts for the enterprise owning prefix ``P``
  (index 100 of ``0.NA/<P>``), ``300:0.NA/<node prefix>`` for the node
  (index 101). A credential may act as an identity its principal holds:
  an enterprise its own prefixes' ``<P>/ADMIN``; the node admin any of this
  node's; an auditor the node's identity.
- a session is stored in the ``sessions`` database (SHA-256 of the session
  id -> JSON ``{token_id, role, credit_code, created, expires}``): any
  process of the node can check it with one read, it ends at ``expires``,
  when it is closed, or when the credential that opened it is revoked. Sessions
  are node-local and short-lived, so they are not written to the change log.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from idnode import _fastpath
from idnode.registry import auth
from idnode.registry._base import ADMIN_IDENTITY_INDEX, RegistryBase, _counter_key, _json
from idnode.registry.auth import Credential, Principal
from idnode.registry.errors import AuthenticationFailed, HandleError, InvalidValue
from idnode.registry.store import from_u64
from idnode.registry.writer import WriteContext

SESSION_TTL = 3600  # seconds a session lives (absolute, from its opening)
_PURGE_LIMIT = 256  # expired sessions dropped per opening, so a purge stays short
MAX_PAGE_SIZE = 10000


def _session_key(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()


class SessionsMixin(RegistryBase):
    """Handle admin identities, sessions, and paged handle listings."""

    # -- Handle admin identities -----------------------------------------------

    def identities_of(self, principal: Principal) -> tuple[str, ...]:
        """The Handle admin identities (``300:<handle>``, normalised) a principal may act as."""
        node = f"{ADMIN_IDENTITY_INDEX}:0.na/{self.node_prefix}"
        if principal.role == "auditor":
            return (node,)
        if principal.role == "enterprise":
            return tuple(f"{ADMIN_IDENTITY_INDEX}:{p}/ADMIN" for p in sorted(self._prefixes_of(principal.credit_code)))
        if principal.is_admin:
            with self.store.begin() as txn:
                owned = [bytes(k).decode() for k in txn.cursor(db=self.store.dbs["prefixes"]).iternext(values=False)]
            return (node, *(f"{ADMIN_IDENTITY_INDEX}:{p}/ADMIN" for p in sorted(owned)))
        return ()

    def authenticate_as(self, identity: str, credential: str) -> Principal:
        """The principal of ``credential`` acting as the Handle admin ``identity``.

        Args:
            identity: ``<index>:<handle>`` (the Basic user of Handle clients,
                URL-decoded), or empty for the credential alone.
            credential: the node credential ``idn1.<id>.<secret>``.

        Raises:
            AuthenticationFailed (403): a bad credential, a malformed
            identity, or one the credential's principal does not hold.
        """
        principal = self.authenticate(credential)
        if not identity:
            return principal
        index, sep, handle = identity.partition(":")
        if not sep or not index.isdigit():
            raise AuthenticationFailed(f"user {identity!r} is not <index>:<handle>")
        try:
            normalised = f"{int(index)}:{_fastpath.normalise_handle(handle)}"
        except HandleError:
            raise AuthenticationFailed(f"user {identity!r} is not <index>:<handle>") from None
        if normalised not in self.identities_of(principal):
            raise AuthenticationFailed(f"credential {principal.token_id} may not act as {identity}")
        return principal

    # -- sessions ----------------------------------------------------------------

    async def open_session(self, principal: Principal, ttl: int = SESSION_TTL) -> tuple[str, int]:
        """Open a session for an authenticated principal.

        Returns:
            ``(session_id, expires)``: the secret id (shown once; only its
            SHA-256 is stored) and its end in seconds since 1970 UTC.

        Raises:
            AuthenticationNeeded (402): anonymous.
        """
        auth.require_authenticated(principal)
        session_id = secrets.token_urlsafe(32)

        def op(ctx: WriteContext) -> int:
            self._purge_sessions(ctx)
            expires = ctx.now + ttl
            record = {
                "token_id": principal.token_id,
                "role": principal.role,
                "credit_code": principal.credit_code,
                "created": ctx.now,
                "expires": expires,
            }
            ctx.put("sessions", _session_key(session_id), _json(record))
            return expires

        return session_id, await self._write(op, local=True)  # sessions are per node

    @staticmethod
    def _purge_sessions(ctx: WriteContext) -> None:
        expired = []
        for key, raw in ctx.cursor("sessions"):
            if json.loads(raw)["expires"] <= ctx.now:
                expired.append(bytes(key))
                if len(expired) >= _PURGE_LIMIT:
                    break
        for key in expired:
            ctx.delete("sessions", key)

    def authenticate_session(self, session_id: str, now: float | None = None) -> Principal:
        """The principal of an open session (one read; any process of the node).

        Raises:
            AuthenticationFailed (403): unknown, closed or expired session, or
            its credential was revoked.
        """
        if not session_id or len(session_id) > 256:
            raise AuthenticationFailed("unknown session")
        with self.store.begin() as txn:
            raw = txn.get(_session_key(session_id), db=self.store.dbs["sessions"])
            if raw is None:
                raise AuthenticationFailed("unknown or closed session")
            record = json.loads(raw)
            if record["expires"] <= (time.time() if now is None else now):
                raise AuthenticationFailed("session expired")
            cred_raw = txn.get(record["token_id"].encode(), db=self.store.dbs["credentials"])
        if cred_raw is None or Credential.from_bytes(cred_raw).revoked:
            raise AuthenticationFailed("the session's credential was revoked")
        return Principal(record["role"], record["credit_code"], record["token_id"])

    def session_expires(self, session_id: str) -> int:
        """When an open session ends (seconds since 1970 UTC); 0 when unknown."""
        raw = self.store.get("sessions", _session_key(session_id))
        return 0 if raw is None else int(json.loads(raw)["expires"])

    async def close_session(self, session_id: str) -> bool:
        """Close a session; False when it was not open."""

        def op(ctx: WriteContext) -> bool:
            key = _session_key(session_id)
            if ctx.get("sessions", key) is None:
                return False
            ctx.delete("sessions", key)
            return True

        return await self._write(op, local=True)

    # -- listing handles by prefix ---------------------------------------------

    def list_handles(
        self, principal: Principal, prefix: str, page: int = 0, page_size: int = 100
    ) -> tuple[int, list[str]]:
        """``(total, handles)``: the live handles under ``prefix`` in key order, one page of them.

        Who may list follows :meth:`export`: an enterprise its own prefixes,
        the node admin and auditors every prefix. ``total`` comes from the
        prefix's live counter when it has one (prefixes under the node
        prefix), else from a scan; a page skips ``page * page_size`` live
        keys (cost grows with the offset). ``page_size`` 0 gives the count only.

        Raises:
            AuthenticationNeeded (402), InsufficientPermissions (401),
            InvalidHandle (102): a malformed prefix, InvalidValue (202): a
            negative page or a page size over :data:`MAX_PAGE_SIZE`.
        """
        prefix = self._listable_prefix(principal, prefix)
        if page < 0 or not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidValue(f"page must be >= 0 and pageSize from 0 to {MAX_PAGE_SIZE}")
        start = _fastpath.prefix_key(prefix)
        skip = page * page_size
        handles: list[str] = []
        with self.store.begin() as txn:
            counted = txn.get(_counter_key(prefix, "live"), db=self.store.dbs["counters"])
            total = from_u64(counted) if counted is not None else None
            if total is None or page_size:
                seen = 0
                cur = txn.cursor(db=self.store.dbs["identifiers"])
                if cur.set_range(start):
                    for key, raw in cur.iternext():
                        if not key.startswith(start):
                            break
                        if raw[1] & _fastpath.FLAG_TOMBSTONE:
                            continue
                        if skip <= seen < skip + page_size:
                            handles.append(_handle_of(bytes(key), raw))
                        seen += 1
                        if total is not None and seen >= skip + page_size:
                            break
                if total is None:
                    total = seen
        return total, handles

    def browse_handles(
        self, principal: Principal, prefix: str, starts_with: str = "", after: str = "", limit: int = 50
    ) -> tuple[list[str], str]:
        """``(handles, next_after)``: live handles under ``prefix`` whose suffix starts with ``starts_with``.

        One key-range scan of the identifiers in key order (prefix, then suffix
        as UTF-8: case-sensitive), from just past the handle ``after`` (a
        suffix; "" = from the start), at most ``limit`` of them; cost grows with
        the page, not with its position. ``next_after`` is the suffix to pass as
        ``after`` for the next page, "" on the last. Who may browse follows
        :meth:`list_handles`.

        Raises:
            AuthenticationNeeded (402), InsufficientPermissions (401),
            InvalidHandle (102): a malformed prefix or ``after``, InvalidValue (202):
            ``limit`` outside 1..:data:`MAX_PAGE_SIZE` or ``starts_with`` over 255 characters.
        """
        prefix, scope = self._browse_scope(principal, prefix, starts_with, limit)
        after_key = _fastpath.handle_key(*_fastpath.parse_handle(f"{prefix}/{after}")) if after else None
        start = max(scope, after_key) if after_key is not None else scope
        with self.store.begin() as txn:
            found = _browse_page(txn, self.store.dbs["identifiers"], start, scope, after_key, limit)
        if len(found) > limit:
            return found[:limit], found[limit - 1].partition("/")[2]
        return found, ""

    def browse_handles_before(
        self, principal: Principal, prefix: str, starts_with: str = "", before: str = "", limit: int = 50
    ) -> tuple[list[str], str]:
        """``(handles, previous_before)``: the page that ends just before the handle ``before`` (a suffix).

        The backward twin of :meth:`browse_handles`: one reverse key-range
        read from ``before`` towards the start of the prefix (not a re-scan
        from the start), at most ``limit`` live handles, returned in key
        order. ``previous_before`` is the suffix to pass as ``before`` for
        the page before this one, "" when this page is the first (so it may
        hold fewer than ``limit``). ``before`` "" reads the last page. The
        same checks and errors as :meth:`browse_handles`.
        """
        prefix, scope = self._browse_scope(principal, prefix, starts_with, limit)
        end = _scope_end(scope)
        if before:
            end = min(end, _fastpath.handle_key(*_fastpath.parse_handle(f"{prefix}/{before}")))
        with self.store.begin() as txn:
            found = _browse_back(txn, self.store.dbs["identifiers"], end, scope, limit)
        if len(found) > limit:
            return found[:limit][::-1], found[limit - 1].partition("/")[2]
        return found[::-1], ""

    def _browse_scope(self, principal: Principal, prefix: str, starts_with: str, limit: int) -> tuple[str, bytes]:
        """The parsed prefix and the key start of a browse, after its permission and argument checks."""
        prefix = self._listable_prefix(principal, prefix)
        if not 1 <= limit <= MAX_PAGE_SIZE or len(starts_with) > 255:
            raise InvalidValue(f"limit must be from 1 to {MAX_PAGE_SIZE} and the suffix start at most 255 characters")
        return prefix, _fastpath.prefix_key(prefix) + starts_with.encode("utf-8", "surrogatepass")


def _browse_page(txn: Any, ids: Any, start: bytes, scope: bytes, after: bytes | None, limit: int) -> list[str]:
    """Up to ``limit`` + 1 live handles whose keys start with ``scope``, from ``start`` (past ``after``)."""
    found: list[str] = []
    cur = txn.cursor(db=ids)
    if not cur.set_range(start):
        return found
    for key, raw in cur.iternext():
        if not key.startswith(scope):
            break
        if (after is not None and key == after) or raw[1] & _fastpath.FLAG_TOMBSTONE:
            continue
        found.append(_handle_of(bytes(key), raw))
        if len(found) > limit:
            break
    return found


def _scope_end(scope: bytes) -> bytes:
    """The smallest key after every key that starts with ``scope`` (scope's last byte below 0xFF, plus one)."""
    head = scope.rstrip(b"\xff")
    return head[:-1] + bytes([head[-1] + 1]) if head else b"\xff" * (len(scope) + 1)


def _browse_back(txn: Any, ids: Any, end: bytes, scope: bytes, limit: int) -> list[str]:
    """Up to ``limit`` + 1 live handles whose keys start with ``scope`` and sort before ``end``, last first."""
    found: list[str] = []
    cur = txn.cursor(db=ids)
    if cur.set_range(end):
        if not cur.prev():  # nothing sorts before `end`
            return found
    elif not cur.last():  # every key sorts before `end`; an empty db has none
        return found
    for key, raw in cur.iterprev():
        if key >= end:
            continue
        if not key.startswith(scope):
            break
        if raw[1] & _fastpath.FLAG_TOMBSTONE:
            continue
        found.append(_handle_of(bytes(key), raw))
        if len(found) > limit:
            break
    return found


def _handle_of(key: bytes, raw: Any) -> str:
    if _fastpath.key_is_digested(key):
        return _fastpath.decode_header(raw)[4]
    return _fastpath.key_handle(key)
