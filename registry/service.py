"""The registry facade: every read and write of the system of record.

Front ends (gRPC today; HTTP and others later) call only this class. Reads
are synchronous short LMDB read transactions and run inline; writes are
``async``: prepared and checked here, then handed to the writer role
(:mod:`idnode.registry.writer`), which commits them in group transactions
with their change-log entries. Every method raises a typed
:class:`~idnode.registry.errors.HandleError` on failure.

The methods live in parts: authentication, resolution helpers, export and
statistics here; enterprises, prefixes, templates and tokens in
``_accounts.py``; identifier writes in ``_identifiers.py``; shared state in
``_base.py``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

from idnode import _fastpath
from idnode._fastpath import FLAG_TOMBSTONE
from idnode.registry import _records, auth, changelog, gs1
from idnode.registry._accounts import AccountsMixin
from idnode.registry._identifiers import IdentifiersMixin
from idnode.registry._sessions import SessionsMixin
from idnode.registry.auth import ANONYMOUS, Credential, Principal
from idnode.registry.errors import (
    AuthenticationFailed,
    HandleDeleted,
    HandleNotFound,
    InvalidValue,
    StoreError,
)
from idnode.registry.model import Record
from idnode.registry.store import Store, from_u64
from idnode.registry.writer import WriteContext, Writer

_EXPORT_CHUNK = 1000


class Registry(AccountsMixin, IdentifiersMixin, SessionsMixin):
    """The node's registry over one open store and its writer.

    Args:
        store: the open store.
        writer: the writer role for that store; None in a reader worker, whose
            Registry calls are forwarded to the writer process (reads only here).
        node_prefix: this node's prefix (``88.118``); enterprise prefixes are
            allocated under it. Fixed at the folder's first start.
        replica_of: the primary of a read replica (``--replica-of``): writes
            are refused with ServerBackup (302) naming it, and an empty folder
            is left for the replica follower to fill.
    """

    top: str | None = None  # the upstream top-level node (``--top``) when upward sync runs; set by the node

    def __init__(self, store: Store, writer: Writer | None, node_prefix: str, *, replica_of: str | None = None) -> None:
        self.store = store
        self.replica_of = replica_of
        self.writer = writer
        self.node_prefix = _fastpath.parse_prefix(node_prefix)
        self._verified = auth.VerifiedCache()
        self._ids = store.dbs["identifiers"]
        stored = store.get("meta", b"node_prefix")
        if stored is None:
            if replica_of:  # a replica learns its node prefix from the primary's log or snapshot
                return
            if writer is None:
                raise StoreError(f"data folder {store.path} has not been initialised by a writer")
            writer.run(lambda ctx: self._put(ctx, "meta", b"node_prefix", self.node_prefix.encode(), "system"))
        elif stored.decode() != self.node_prefix:
            raise StoreError(
                f"data folder {store.path} belongs to node prefix {stored.decode()}, "
                f"not {self.node_prefix}: start with --node-prefix {stored.decode()}"
            )

    # -- authentication --------------------------------------------------------

    def authenticate(self, credential: str | None) -> Principal:
        """Map a bearer credential (``idn1.<id>.<secret>``) to its principal.

        ``None`` or empty gives the anonymous principal.

        Raises:
            AuthenticationFailed (403): malformed, unknown, revoked or wrong secret.
        """
        if not credential:
            return ANONYMOUS
        token_id, secret = auth.split_token(credential)
        raw = self.store.get("credentials", token_id.encode())
        if raw is None:
            raise AuthenticationFailed("unknown credential")
        cred = Credential.from_bytes(raw)
        if cred.revoked:
            raise AuthenticationFailed(f"credential {token_id} was revoked")
        if cred.kind == "scrypt":
            if self._verified.get(credential) != token_id:
                if not auth.verify_secret(cred, secret):
                    raise AuthenticationFailed("wrong secret")
                self._verified.put(credential, token_id)
        elif not auth.verify_secret(cred, secret):
            raise AuthenticationFailed("wrong secret")
        return cred.principal()

    def whoami(self, principal: Principal) -> tuple[str, str, tuple[str, ...], str, str]:
        """``(role, credit_code, prefixes, actor, token_id)`` of a principal.

        Raises:
            AuthenticationNeeded (402): anonymous callers.
        """
        auth.require_authenticated(principal)
        prefixes = self._prefixes_of(principal.credit_code) if principal.credit_code else ()
        return principal.role, principal.credit_code, prefixes, principal.actor, principal.token_id

    async def ensure_admin_credential(self) -> str | None:
        """Create the node-admin credential at first start.

        Returns the whole credential (to show once) when it was created now,
        None when one exists. Only its scrypt hash is stored.
        """
        if self.store.get("meta", b"admin_token_id") is not None:
            return None
        issued: list[str] = []

        def op(ctx: WriteContext) -> None:
            if ctx.get("meta", b"admin_token_id") is not None:
                return
            token, cred = auth.issue_credential("node-admin", "", "first-start admin", ctx.now, slow=True)
            self._put(ctx, "credentials", cred.token_id.encode(), cred.to_bytes(), "system")
            self._put(ctx, "meta", b"admin_token_id", cred.token_id.encode(), "system")
            issued.append(token)

        await self._write(op)
        return issued[0] if issued else None

    # -- resolution (hot path helpers) -----------------------------------------

    def lookup(self, prefix: str, suffix: str, txn: Any = None) -> bytes | None:
        """The stored record bytes of a normalised handle, or None if never registered.

        Tombstones are returned too (flag FLAG_TOMBSTONE in the header).
        ``txn`` reuses an open read transaction (see :meth:`snapshot`).
        """
        key = _fastpath.handle_key(prefix, suffix)
        if txn is None:
            with self.store.begin() as own:
                raw = own.get(key, db=self._ids)
        else:
            raw = txn.get(key, db=self._ids)
        if raw is not None and _fastpath.key_is_digested(key):
            stored = _fastpath.decode_header(raw)[4]
            if stored != prefix + "/" + suffix:
                return None
        return raw

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """One read transaction for many lookups (a batch): a view with the
        read methods the resolve stages use, all seeing the same data."""
        with self.store.begin() as txn:
            yield Snapshot(self, txn)

    def can_read_private(self, principal: Principal, prefix: str) -> bool:
        """True when the principal may see values that are not public-readable."""
        if principal.is_anonymous:
            return False
        return auth.may_read_private(principal, self.prefix_owner(prefix))

    def get_record(self, principal: Principal, handle: str) -> Record:
        """The decoded record, only the values the principal may read.

        Raises:
            InvalidHandle (102), HandleNotFound / HandleDeleted (100).
        """
        prefix, suffix = _fastpath.parse_handle(handle)
        normalised = prefix + "/" + suffix
        raw = self.lookup(prefix, suffix)
        if raw is None:
            raise HandleNotFound(f"handle {normalised} not found", handle=normalised)
        record = _records.decode(_fastpath.handle_key(prefix, suffix), raw)
        if record.deleted:
            raise HandleDeleted(f"handle {normalised} was deleted", handle=normalised)
        if not self.can_read_private(principal, prefix):
            record = dataclasses.replace(record, values=tuple(v for v in record.values if v.public_read))
        return record

    def find_by(self, value_type: str, text: str) -> list[str]:
        """Live handles holding a GTIN/SGTIN/OID value matching ``text``, in key order.

        GTIN and SGTIN share one index keyed by GTIN-14: a GTIN of any length
        or an SGTIN spelling is normalised like the stored values
        (:func:`idnode.registry._records.index_text`), so ``614141322602``
        finds a value ``00614141322602`` and an SGTIN finds every identifier
        with its GTIN, whatever the serial. Text from which no GTIN-14 can be
        derived, and OIDs, match the value text exactly.

        Raises:
            InvalidValue: a type without an index.
        """
        db = _records.INDEXED_TYPES.get(value_type)
        if db is None:
            raise InvalidValue(f"no index for type {value_type!r}; indexed: {', '.join(_records.INDEXED_TYPES)}")
        with self.store.begin() as txn:
            return _indexed_handles(txn, self.store.dbs[db], self._ids, _records.index_text(db, text.encode()), None)

    # -- export and statistics -------------------------------------------------

    def export(self, principal: Principal, prefix: str = "") -> Iterator[Record]:
        """Every live identifier the principal may list, in key order.

        Reads in chunks, each in its own short read transaction, so a long
        export never pins old pages. An enterprise lists only its prefixes.
        """
        auth.require_authenticated(principal)
        if prefix:
            ranges = [self._listable_prefix(principal, prefix)]
        elif principal.role == "enterprise":
            ranges = sorted(self._prefixes_of(principal.credit_code))
        else:
            ranges = [""]
        for start_prefix in ranges:
            start = _fastpath.prefix_key(start_prefix) if start_prefix else b""
            position = start
            first = True
            while True:
                chunk: list[tuple[bytes, bytes]] = []
                with self.store.begin() as txn:
                    cur = txn.cursor(db=self._ids)
                    if not cur.set_range(position):
                        break
                    if not first and bytes(cur.key()) == position and not cur.next():
                        break
                    for k, v in cur:
                        if start and not bytes(k).startswith(start):
                            break
                        chunk.append((bytes(k), bytes(v)))
                        if len(chunk) >= _EXPORT_CHUNK:
                            break
                first = False
                for k, v in chunk:
                    record = _records.decode(k, v)
                    if not record.deleted:
                        yield record
                if len(chunk) < _EXPORT_CHUNK:
                    break
                position = chunk[-1][0]

    def stats(self, principal: Principal) -> dict[str, Any]:
        """Node statistics (node-admin, auditor; an enterprise sees its prefixes)."""
        auth.require_authenticated(principal)
        own = set(self._prefixes_of(principal.credit_code)) if principal.role == "enterprise" else None
        per: dict[str, dict[str, Any]] = {}
        with self.store.begin() as txn:
            for k, v in txn.cursor(db=self.store.dbs["counters"]):
                prefix, _, name = bytes(k).decode().partition("\x00")
                if own is not None and prefix not in own:
                    continue
                entry = per.setdefault(
                    prefix, {"prefix": prefix, "identifiers": 0, "registrations": 0, "deletions": 0, "tombstones": 0}
                )
                field = {
                    "live": "identifiers",
                    "created": "registrations",
                    "deleted": "deletions",
                    "tombstones": "tombstones",
                }[name]
                entry[field] = from_u64(v)
            enterprises = txn.stat(self.store.dbs["enterprises"])["entries"]
            prefixes = txn.stat(self.store.dbs["prefixes"])["entries"]
        rows = sorted(per.values(), key=lambda r: r["prefix"])
        from idnode.sync import stats as daily

        today = daily.day_usage(self.store, daily.day_of(time.time(), daily.zone()))
        for row in rows:
            row["resolutions_today"], row["errors_today"] = today.get(row["prefix"].lower(), (0, 0))
        out: dict[str, Any] = {
            "node_prefix": self.node_prefix,
            "identifiers": sum(r["identifiers"] for r in rows),
            "tombstones": sum(r.pop("tombstones") for r in rows),
            "enterprises": enterprises if own is None else 1,
            "prefixes": prefixes if own is None else len(own),
            "changelog_sequence": self.store.last_sequence(),
            "per_prefix": rows,
        }
        out.update(self.store.usage())
        if own is None:
            out["sync"] = self.sync_status()
            from idnode.sync.replica import replication_status

            replication = replication_status(self.store)
            if replication is not None:  # a read replica
                out["replication"] = replication
        return out

    def usage(self, principal: Principal, first: Any, last: Any) -> list[dict[str, Any]]:
        """Daily resolutions and errors per prefix and front end, ``first`` to ``last`` (dates, inclusive):
        ``[{"day", "prefix", "frontend", "resolutions", "errors"}]`` in that order (the read API of the
        statistics; sync/stats.py keeps them). Node-admin and auditors see every prefix, an enterprise
        its own.

        Raises:
            InvalidValue (202): ``last`` before ``first``, or more than 366 days.
        """
        from idnode.sync import stats as daily

        return daily.usage_rows(self.store, first, last, self._days_scope(principal, first, last))

    def _days_scope(self, principal: Principal, first: Any, last: Any) -> set[str] | None:
        """The lower-case prefixes a principal's daily statistics cover (None: all), after checking the range."""
        auth.require_authenticated(principal)
        if last < first or (last - first).days > 366:
            raise InvalidValue(f"day range {first} .. {last}: at most 366 days, in order")
        if principal.role == "enterprise":
            return {p.lower() for p in self._prefixes_of(principal.credit_code)}
        return None

    def daily_registrations(self, principal: Principal, first: Any, last: Any) -> Iterator[Any]:
        """Identifier creations per day and prefix, ``first`` to ``last`` (dates, inclusive), from the day
        counters the writer keeps: a generator yielding None between chunks of keys (a caller on an event
        loop lets others run) and last ``({(ISO day, prefix): count}, complete_from)``, where
        ``complete_from`` is the first day whose count is whole, None when every day is (days before the
        counters' backfill reached, :func:`idnode.sync.stats.registrations_by_day`). Who sees what: as
        :meth:`usage`.

        Raises:
            InvalidValue (202): ``last`` before ``first``, or more than 366 days.
        """
        from idnode.sync import stats as daily

        own = self._days_scope(principal, first, last)
        return daily.registrations_by_day(self.store, first, last, daily.zone(), own)

    def sync_status(self) -> dict[str, Any]:
        """Upward sync to the top-level node: its target and how far the outbox trails the change log.

        ``lag_seconds`` is the age of the oldest change the top-level node has
        not acknowledged (0 when none is pending). Read from the store, so any
        process of the node answers it.
        """
        return {"top": self.top or "", **changelog.lag(self.store, changelog.OUTBOX_CURSOR, time.time())}


class Snapshot:
    """The resolve stages' view of the registry inside one read transaction.

    Besides the identifier lookups it answers the secondary-index questions a
    DNS front end asks for ``gtin.<zone>`` and ``oid.<zone>`` names.
    """

    __slots__ = ("_registry", "_txn", "can_read_private", "get", "serves")

    def __init__(self, registry: Registry, txn: Any) -> None:
        self._registry = registry
        self._txn = txn
        self.serves = registry.serves
        self.can_read_private = registry.can_read_private
        self.get = txn.cursor(db=registry._ids).get  # identifier key -> stored record or None

    def lookup(self, prefix: str, suffix: str) -> bytes | None:
        return self._registry.lookup(prefix, suffix, self._txn)

    def find_gtin(self, gtin14: str, limit: int = 20) -> list[str]:
        """Live handles (``prefix/suffix``) holding a GTIN or SGTIN value of this GTIN, in key order.

        Args:
            gtin14: the GTIN-14 (as ``name_to_gtin`` gives it); a shorter
                GTIN or an SGTIN is normalised as in :meth:`Registry.find_by`.
            limit: at most this many handles (none for ``limit <= 0``).
        """
        key = _records.index_text("idx_gtin", gtin14.encode())
        return _indexed_handles(self._txn, self._dbs["idx_gtin"], self._registry._ids, key, limit)

    def find_oid(self, oid: str, limit: int = 20) -> list[str]:
        """Live handles holding an OID value with exactly this text, in key order, at most ``limit``."""
        return _indexed_handles(self._txn, self._dbs["idx_oid"], self._registry._ids, oid.encode(), limit)

    def gtin_prefix_exists(self, digits: str) -> bool:
        """True when some indexed GTIN-14 ``g`` has ``g[1:1 + len(digits)] == digits``.

        A GS1 ONS name puts the indicator digit last (leftmost label), so the
        ancestors of a GTIN's name stand for prefixes of ``g[1:13]``: this
        tells an empty non-terminal from a name that does not exist. One
        cursor seek per indicator digit (at most 10); within a seek's range
        it steps over raw-text keys (values that are not valid GTINs).
        ``digits`` that are not at most 13 ASCII digits give False.
        """
        if len(digits) > 13 or not (digits.isascii() and (digits.isdigit() or not digits)):
            return False
        cur = self._txn.cursor(db=self._dbs["idx_gtin"])
        for indicator in "0123456789":
            start = (indicator + digits).encode("ascii")
            if not cur.set_range(start):
                return False  # no key at or after this one, so none for higher indicators either
            for k in cur.iternext(values=False):
                k = bytes(k)
                if not k.startswith(start):
                    break
                if _is_gtin14_key(k):
                    return True
        return False

    def oid_prefix_exists(self, oid_arcs_text: str) -> bool:
        """True when some indexed OID equals ``oid_arcs_text`` or starts with it and ``.``.

        For an ``oid.<zone>`` name that is no OID's own: an ancestor of one
        (an empty non-terminal) or nothing. A trailing ``.`` is ignored
        (``"1.2."`` asks the same as ``"1.2"``); the empty text (the
        ``oid.<zone>`` node itself) is True when any OID is indexed. At most
        two cursor seeks.
        """
        text = oid_arcs_text.removesuffix(".").encode()
        cur = self._txn.cursor(db=self._dbs["idx_oid"])
        if not text:
            return cur.first()
        for start in (text + b"\x00", text + b"."):
            if cur.set_range(start) and bytes(cur.key()).startswith(start):
                return True
        return False

    # -- name existence, for the DNS front end's negative answers ----------------

    def last_sequence(self) -> int:
        """The newest change-log sequence number in this snapshot (0 for an empty log)."""
        return self._registry.store.last_sequence(self._txn)

    def has_identifiers(self, prefix: str, subprefixes: bool) -> bool:
        """True when a live identifier lies under ``prefix`` (or, with
        ``subprefixes``, under a prefix ``prefix.<more>``); tombstones do not count."""
        starts = [prefix.encode() + b"\x00"]
        if subprefixes:
            starts.append(prefix.encode() + b".")
        return any(self._live_key_from(start, lambda key, record: True) for start in starts)

    def has_suffix_encoding_below(self, prefix: str, encoded: bytes) -> bool:
        """True when a live identifier under ``prefix`` has a suffix whose DNS
        encoding (base32hex, ``resolver/dns/names.py``) starts with ``encoded``
        and is longer: its name lies below the name spelled by ``encoded``."""
        whole, spare = divmod(5 * len(encoded), 8)
        head = (int(encoded, 32) >> spare).to_bytes(whole, "big") if encoded else b""
        start = prefix.encode() + b"\x00"

        def below(key: bytes, record: bytes) -> bool:
            if _fastpath.key_is_digested(key):
                suffix = _fastpath.decode_header(record)[4].partition("/")[2]
            else:
                suffix = _fastpath.key_handle(key).partition("/")[2]
            mine = base64.b32hexencode(suffix.encode()).rstrip(b"=").lower()
            return len(mine) > len(encoded) and mine.startswith(encoded)

        return self._live_key_from(start + head, below)

    def _live_key_from(self, start: bytes, accept: Callable[[bytes, bytes], bool], limit: int = 64) -> bool:
        """True when some live identifier key starting with ``start`` passes ``accept``.

        Looks at ``limit`` keys at most, then answers True: a name that may
        exist must not be denied (an NXDOMAIN is cached for the whole subtree).
        """
        cur = self._txn.cursor(db=self._registry._ids)
        if not cur.set_range(start):
            return False
        for seen, (key, record) in enumerate(cur.iternext()):
            if not key.startswith(start):
                return False
            if seen >= limit:
                return True
            if record[1] & FLAG_TOMBSTONE:
                continue
            if accept(bytes(key), bytes(record)):
                return True
        return False

    @property
    def _dbs(self) -> dict[str, Any]:
        return self._registry.store.dbs


def _is_gtin14_key(key: bytes) -> bool:
    """True for an ``idx_gtin`` key whose text is a valid GTIN-14 (not a raw-text fallback)."""
    return len(key) > 14 and key[14] == 0 and key[:14].isdigit() and gs1.gtin_valid(key[:14].decode("ascii"))


def _indexed_handles(txn: Any, index_db: Any, ids_db: Any, text: bytes, limit: int | None) -> list[str]:
    """Live handles under one index text (``text 0x00 identifier key``), in key order.

    Index entries of tombstones or missing records are skipped (writes drop
    them with the record, so these are only a guard). ``limit`` None: all.
    """
    out: list[str] = []
    if limit is not None and limit <= 0:
        return out
    start = text + b"\x00"
    cur = txn.cursor(db=index_db)
    if not cur.set_range(start):
        return out
    for k in cur.iternext(values=False):
        k = bytes(k)
        if not k.startswith(start):
            break
        idkey = k[len(start) :]
        raw = txn.get(idkey, db=ids_db)
        if raw is None:
            continue
        flags, _, _, _, handle, _ = _fastpath.decode_header(raw)
        if flags & _fastpath.FLAG_TOMBSTONE:
            continue
        out.append(handle or _fastpath.key_handle(idkey))
        if limit is not None and len(out) >= limit:
            break
    return out
