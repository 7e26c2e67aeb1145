"""The registry facade: every read and write of the system of record.

Front ends (gRPC today; HTTP and others later) call only this class. Reads
are synchronous short LMDB read transactions and run inline; writes are
``async``: prepared and checked here, then handed to the writer role
(:mod:`idnode.registry.writer`), which commits them in group transactions
with their change-log entries. Every method raises a typed
:class:`~idnode.registry.errors.HandleError` on failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from idnode import _fastpath
from idnode.registry import _records, auth, templates, uscc
from idnode.registry.auth import ANONYMOUS, Credential, Principal
from idnode.registry.changelog import OP_CREATE, OP_DELETE, OP_PUT, OP_UPDATE
from idnode.registry.errors import (
    AuthenticationFailed,
    HandleAlreadyExists,
    HandleDeleted,
    HandleError,
    HandleNotFound,
    InsufficientPermissions,
    InvalidValue,
    ServerNotResponsible,
    StoreError,
    ValueAlreadyExists,
    ValuesNotFound,
)
from idnode.registry.model import (
    ENTERPRISE_STATUSES,
    MAX_BATCH,
    UPDATE_MODES,
    Enterprise,
    IdentifierUpdate,
    IdentifierWrite,
    IssuedToken,
    PrefixInfo,
    Record,
    Template,
    WriteOutcome,
)
from idnode.registry.store import Store, from_u64
from idnode.registry.values import (
    ADMIN_ADD_PREFIX,
    ADMIN_ALL,
    ADMIN_DELETE_PREFIX,
    PERM_ADMIN_READ,
    PERM_ADMIN_WRITE,
    PERM_PUBLIC_READ,
    TEMPLATE_VERSION_INDEX,
    AdminData,
    Value,
    check_value_set,
)
from idnode.registry.writer import WriteContext, Writer

ADMIN_IDENTITY_INDEX = 300
_EXPORT_CHUNK = 1000


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _counter_key(prefix: str, name: str) -> bytes:
    return prefix.encode() + b"\x00" + name.encode()


@dataclasses.dataclass(slots=True)
class _Prepared:
    """An identifier write that passed the stateless checks."""

    handle: str
    prefix: str
    suffix: str
    key: bytes
    values: tuple[Value, ...] = ()
    template_version: str = ""
    update: IdentifierUpdate | None = None


class Registry:
    """The node's registry over one open store and its writer.

    Args:
        store: the open store.
        writer: the writer role for that store.
        node_prefix: this node's prefix (``88.118``); enterprise prefixes are
            allocated under it. Fixed at the folder's first start.
    """

    def __init__(self, store: Store, writer: Writer, node_prefix: str) -> None:
        self.store = store
        self.writer = writer
        self.node_prefix = _fastpath.parse_prefix(node_prefix)
        self._verified = auth.VerifiedCache()
        self._ids = store.dbs["identifiers"]
        stored = store.get("meta", b"node_prefix")
        if stored is None:
            writer.run(lambda ctx: self._put(ctx, "meta", b"node_prefix", self.node_prefix.encode(), "system"))
        elif stored.decode() != self.node_prefix:
            raise StoreError(
                f"data folder {store.path} belongs to node prefix {stored.decode()}, "
                f"not {self.node_prefix}: start with --node-prefix {stored.decode()}"
            )

    # -- shared helpers --------------------------------------------------------

    async def _write(self, fn: Callable[[WriteContext], Any]) -> Any:
        return await asyncio.wrap_future(self.writer.submit(fn))

    @staticmethod
    def _put(ctx: WriteContext, db: str, key: bytes, value: bytes, actor: str) -> int:
        ctx.put(db, key, value)
        return ctx.log(OP_PUT, db, key, value, actor)

    def _read_json(self, db: str, key: bytes, txn: Any = None) -> dict[str, Any] | None:
        raw = txn.get(key, db=self.store.dbs[db]) if txn is not None else self.store.get(db, key)
        return None if raw is None else json.loads(raw)

    def _prefixes_of(self, credit_code: str) -> tuple[str, ...]:
        with self.store.begin() as txn:
            return tuple(
                bytes(k).decode()
                for k, v in txn.cursor(db=self.store.dbs["prefixes"])
                if json.loads(v)["owner"] == credit_code
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
        """``(role, credit_code, prefixes, actor, token_id)`` of a principal."""
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

    def lookup(self, prefix: str, suffix: str) -> bytes | None:
        """The stored record bytes of a normalised handle, or None if never registered.

        Tombstones are returned too (flag FLAG_TOMBSTONE in the header).
        """
        key = _fastpath.handle_key(prefix, suffix)
        with self.store.begin() as txn:
            raw = txn.get(key, db=self._ids)
        if raw is not None and _fastpath.key_is_digested(key):
            stored = _fastpath.decode_header(raw)[4]
            if stored != prefix + "/" + suffix:
                return None
        return raw

    def serves(self, prefix: str) -> bool:
        """True when ``prefix`` is this node's prefix or lies under it."""
        return prefix == self.node_prefix or prefix.startswith(self.node_prefix + ".")

    def prefix_owner(self, prefix: str) -> str | None:
        info = self._read_json("prefixes", prefix.encode())
        return None if info is None else info["owner"]

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
        """Handles holding a GTIN/SGTIN/OID value with exactly this text."""
        db = _records.INDEXED_TYPES.get(value_type)
        if db is None:
            raise InvalidValue(f"no index for type {value_type!r}; indexed: {', '.join(_records.INDEXED_TYPES)}")
        start = text.encode() + b"\x00"
        out = []
        with self.store.begin() as txn:
            cur = txn.cursor(db=self.store.dbs[db])
            if cur.set_range(start):
                for k in cur.iternext(values=False):
                    if not bytes(k).startswith(start):
                        break
                    idkey = bytes(k)[len(start) :]
                    raw = txn.get(idkey, db=self._ids)
                    head = _fastpath.decode_header(raw) if raw else None
                    out.append(head[4] if head and head[4] else _fastpath.key_handle(idkey))
        return out

    # -- enterprises -----------------------------------------------------------

    def _enterprise(self, data: dict[str, Any], prefixes: tuple[str, ...] | None = None) -> Enterprise:
        return Enterprise(
            credit_code=data["credit_code"],
            name=data["name"],
            contact=data["contact"],
            status=data["status"],
            created=data["created"],
            prefixes=self._prefixes_of(data["credit_code"]) if prefixes is None else prefixes,
        )

    async def add_enterprise(self, principal: Principal, credit_code: str, name: str, contact: str) -> Enterprise:
        """Register an enterprise as pending review (node-admin only).

        An identical repeat returns the existing enterprise.

        Raises:
            InvalidValue: bad credit code, empty or over-long name/contact.
            HandleAlreadyExists (101): the code is registered with other details.
        """
        auth.require_role(principal, "node-admin")
        code = uscc.validate_credit_code(credit_code)
        name = (name or "").strip()
        contact = (contact or "").strip()
        if not name or len(name) > 200:
            raise InvalidValue("enterprise name must have 1 to 200 characters")
        if len(contact) > 200:
            raise InvalidValue("enterprise contact must have at most 200 characters")

        def op(ctx: WriteContext) -> dict[str, Any]:
            raw = ctx.get("enterprises", code.encode())
            if raw is not None:
                existing = json.loads(raw)
                if existing["name"] == name and existing["contact"] == contact:
                    return existing
                raise HandleAlreadyExists(f"enterprise {code} is already registered as {existing['name']!r}")
            data = {"credit_code": code, "name": name, "contact": contact, "status": "pending", "created": ctx.now}
            self._put(ctx, "enterprises", code.encode(), _json(data), principal.actor)
            return data

        return self._enterprise(await self._write(op))

    def list_enterprises(self, principal: Principal) -> list[Enterprise]:
        """Node-admin and auditor see all; an enterprise sees itself."""
        auth.require_authenticated(principal)
        owners: dict[str, list[str]] = {}
        out = []
        with self.store.begin() as txn:
            for k, v in txn.cursor(db=self.store.dbs["prefixes"]):
                owners.setdefault(json.loads(v)["owner"], []).append(bytes(k).decode())
            for _, v in txn.cursor(db=self.store.dbs["enterprises"]):
                data = json.loads(v)
                if principal.role == "enterprise" and data["credit_code"] != principal.credit_code:
                    continue
                out.append(self._enterprise(data, tuple(owners.get(data["credit_code"], ()))))
        return out

    async def set_enterprise_status(self, principal: Principal, credit_code: str, status: str) -> Enterprise:
        """Approve, suspend or return an enterprise to pending (node-admin only)."""
        auth.require_role(principal, "node-admin")
        code = uscc.validate_credit_code(credit_code)
        if status not in ENTERPRISE_STATUSES:
            raise InvalidValue(f"enterprise status must be one of {', '.join(ENTERPRISE_STATUSES)}, got {status!r}")

        def op(ctx: WriteContext) -> dict[str, Any]:
            raw = ctx.get("enterprises", code.encode())
            if raw is None:
                raise HandleNotFound(f"enterprise {code} not found")
            data = json.loads(raw)
            if data["status"] != status:
                data["status"] = status
                self._put(ctx, "enterprises", code.encode(), _json(data), principal.actor)
            return data

        return self._enterprise(await self._write(op))

    # -- prefixes --------------------------------------------------------------

    def _prefix_info(self, data: dict[str, Any], txn: Any) -> PrefixInfo:
        raw = txn.get(_counter_key(data["prefix"], "live"), db=self.store.dbs["counters"])
        return PrefixInfo(
            prefix=data["prefix"],
            owner=data["owner"],
            status=data["status"],
            created=data["created"],
            identifiers=from_u64(raw) if raw else 0,
        )

    async def allocate_prefix(self, principal: Principal, credit_code: str, prefix: str = "") -> PrefixInfo:
        """Allocate an enterprise prefix under the node prefix (node-admin only).

        ``prefix`` empty takes the next free one (``<node prefix>.<n>``). The
        prefix handle ``0.NA/<prefix>`` gets an HS_ADMIN naming
        ``<prefix>/ADMIN`` index 300, the enterprise's Handle identity.
        Without an upstream top-level node the node admin's allocation is final
        (status approved).

        Raises:
            InvalidHandle: malformed prefix. ServerNotResponsible (301): not
            under the node prefix. HandleAlreadyExists (101): allocated already.
            HandleNotFound (100): unknown enterprise.
        """
        auth.require_role(principal, "node-admin")
        code = uscc.validate_credit_code(credit_code)
        wanted = _fastpath.parse_prefix(prefix) if prefix else ""
        if wanted and not wanted.startswith(self.node_prefix + "."):
            raise ServerNotResponsible(f"prefix {wanted} is not under this node's prefix {self.node_prefix}")

        def op(ctx: WriteContext) -> PrefixInfo:
            if ctx.get("enterprises", code.encode()) is None:
                raise HandleNotFound(f"enterprise {code} not found")
            chosen = wanted or self._next_free_prefix(ctx)
            raw = ctx.get("prefixes", chosen.encode())
            if raw is not None:
                existing = json.loads(raw)
                if existing["owner"] == code:
                    return self._prefix_info(existing, ctx.txn)
                raise HandleAlreadyExists(f"prefix {chosen} is already allocated to {existing['owner']}")
            data = {"prefix": chosen, "owner": code, "status": "approved", "created": ctx.now}
            self._put(ctx, "prefixes", chosen.encode(), _json(data), principal.actor)
            self._write_prefix_handle(ctx, chosen, principal.actor)
            return self._prefix_info(data, ctx.txn)

        return await self._write(op)

    def _next_free_prefix(self, ctx: WriteContext) -> str:
        base = self.node_prefix + "."
        highest = 0
        cur = ctx.cursor("prefixes")
        if cur.set_range(base.encode()):
            for k in cur.iternext(values=False):
                name = bytes(k).decode()
                if not name.startswith(base):
                    break
                tail = name[len(base) :]
                if tail.isdigit():
                    highest = max(highest, int(tail))
        return f"{base}{highest + 1}"

    def _write_prefix_handle(self, ctx: WriteContext, prefix: str, actor: str) -> None:
        handle = f"0.na/{prefix}"
        key = _fastpath.handle_key("0.na", prefix)
        values = [
            Value(
                100,
                "HS_ADMIN",
                AdminData(
                    f"{prefix}/ADMIN", ADMIN_IDENTITY_INDEX, ADMIN_ALL & ~(ADMIN_ADD_PREFIX | ADMIN_DELETE_PREFIX)
                ),
                "admin",
                timestamp=ctx.now,
                permissions=PERM_ADMIN_READ | PERM_ADMIN_WRITE | PERM_PUBLIC_READ,
            ),
            Value(
                101,
                "HS_ADMIN",
                AdminData(f"0.NA/{self.node_prefix}", ADMIN_IDENTITY_INDEX, ADMIN_ALL),
                "admin",
                timestamp=ctx.now,
                permissions=PERM_ADMIN_READ | PERM_ADMIN_WRITE | PERM_PUBLIC_READ,
            ),
        ]
        record = _records.build(handle, key, values, ctx.now, ctx.now, "")
        ctx.put("identifiers", key, record)
        ctx.log(OP_CREATE, "identifiers", key, record, actor)

    def list_prefixes(self, principal: Principal, credit_code: str = "") -> list[PrefixInfo]:
        """Prefixes the principal may see (an enterprise only its own)."""
        auth.require_authenticated(principal)
        if principal.role == "enterprise":
            credit_code = principal.credit_code
        elif credit_code:
            credit_code = uscc.validate_credit_code(credit_code)
        out = []
        with self.store.begin() as txn:
            for _, v in txn.cursor(db=self.store.dbs["prefixes"]):
                data = json.loads(v)
                if not credit_code or data["owner"] == credit_code:
                    out.append(self._prefix_info(data, txn))
        return out

    # -- templates -------------------------------------------------------------

    async def put_template(self, principal: Principal, template: Template) -> Template:
        """Store a template version for a prefix (its owner or node-admin).

        Versions are immutable once stored: an identical repeat succeeds, a
        different body under an existing version fails with 101.
        """
        template = templates.validate_template(template)
        owner = self.prefix_owner(template.prefix)
        if owner is None:
            raise HandleNotFound(f"prefix {template.prefix} is not allocated")
        auth.check_write_under(principal, template.prefix, owner)
        key = template.prefix.encode() + b"\x00" + template.version.encode()

        def op(ctx: WriteContext) -> Template:
            raw = ctx.get("templates", key)
            if raw is not None:
                existing = templates.template_from_json(json.loads(raw))
                if dataclasses.replace(existing, created=0) == dataclasses.replace(template, created=0):
                    return existing
                raise HandleAlreadyExists(
                    f"template {template.prefix} v{template.version} exists with other items; publish a new version"
                )
            stored = dataclasses.replace(template, created=ctx.now)
            self._put(ctx, "templates", key, _json(templates.template_to_json(stored)), principal.actor)
            return stored

        return await self._write(op)

    def _load_template(self, txn: Any, prefix: str, version: str) -> Template | None:
        raw = txn.get(prefix.encode() + b"\x00" + version.encode(), db=self.store.dbs["templates"])
        return None if raw is None else templates.template_from_json(json.loads(raw))

    def get_template(self, principal: Principal, prefix: str, version: str = "") -> Template:
        """A template version of a prefix; ``version`` empty = the latest stored.

        Raises:
            AuthenticationNeeded (402) for anonymous; HandleNotFound (100).
        """
        auth.require_authenticated(principal)
        prefix = _fastpath.parse_prefix(prefix)
        with self.store.begin() as txn:
            if version:
                found = self._load_template(txn, prefix, version)
            else:
                found = None
                start = prefix.encode() + b"\x00"
                cur = txn.cursor(db=self.store.dbs["templates"])
                if cur.set_range(start):
                    for k, v in cur:
                        if not bytes(k).startswith(start):
                            break
                        candidate = templates.template_from_json(json.loads(v))
                        if found is None or candidate.created >= found.created:
                            found = candidate
        if found is None:
            what = f"version {version} " if version else ""
            raise HandleNotFound(f"no template {what}for prefix {prefix}")
        return found

    # -- tokens ----------------------------------------------------------------

    async def create_token(
        self, principal: Principal, role: str, credit_code: str = "", label: str = ""
    ) -> IssuedToken:
        """Issue a random API token; only its SHA-256 digest is stored.

        Node-admin may issue any role; an enterprise only enterprise tokens
        for itself.
        """
        auth.require_role(principal, "node-admin", "enterprise")
        if principal.role == "enterprise":
            if role != "enterprise" or (credit_code and credit_code != principal.credit_code):
                raise InsufficientPermissions("an enterprise may only issue tokens for itself")
            credit_code = principal.credit_code
        elif credit_code:
            credit_code = uscc.validate_credit_code(credit_code)
        if len(label) > 200:
            raise InvalidValue("token label must have at most 200 characters")

        def op(ctx: WriteContext) -> IssuedToken:
            if role == "enterprise" and ctx.get("enterprises", credit_code.encode()) is None:
                raise HandleNotFound(f"enterprise {credit_code} not found")
            token, cred = auth.issue_credential(role, credit_code, label, ctx.now)
            self._put(ctx, "credentials", cred.token_id.encode(), cred.to_bytes(), principal.actor)
            return IssuedToken(cred.token_id, token)

        return await self._write(op)

    async def revoke_token(self, principal: Principal, token_id: str) -> bool:
        """Revoke a credential; False when it was revoked already."""
        auth.require_role(principal, "node-admin", "enterprise")

        def op(ctx: WriteContext) -> bool:
            raw = ctx.get("credentials", token_id.encode())
            if raw is None:
                raise HandleNotFound(f"token {token_id} not found")
            cred = Credential.from_bytes(raw)
            if principal.role == "enterprise" and cred.credit_code != principal.credit_code:
                raise HandleNotFound(f"token {token_id} not found")
            if cred.revoked:
                return False
            revoked = dataclasses.replace(cred, revoked=ctx.now)
            self._put(ctx, "credentials", token_id.encode(), revoked.to_bytes(), principal.actor)
            return True

        result = await self._write(op)
        self._verified.forget(token_id)
        return result

    # -- identifiers: preparation (no store access) ----------------------------

    def _prepare(self, handle: str, values: Sequence[Value], template_version: str, *, need_values: bool) -> _Prepared:
        prefix, suffix = _fastpath.parse_handle(handle)
        normalised = prefix + "/" + suffix
        if need_values:
            check_value_set(values, normalised)
        for value in values:
            if value.index == TEMPLATE_VERSION_INDEX:
                raise InvalidValue(
                    f"index {TEMPLATE_VERSION_INDEX} is reserved for the template version; "
                    "name it with template_version",
                    handle=normalised,
                )
        if len(template_version) > 32:
            raise InvalidValue("template version has more than 32 characters", handle=normalised)
        return _Prepared(
            normalised, prefix, suffix, _fastpath.handle_key(prefix, suffix), tuple(values), template_version
        )

    # -- identifiers: checks and writes inside the writer ----------------------

    def _check_writable(self, ctx: WriteContext, principal: Principal, prefix: str, cache: dict[str, None]) -> None:
        """Authorization for writing under ``prefix`` (cached per operation)."""
        if prefix in cache:
            return
        if not self.serves(prefix):
            raise ServerNotResponsible(f"prefix {prefix} is not served by this node (node prefix {self.node_prefix})")
        raw = ctx.get("prefixes", prefix.encode())
        info = json.loads(raw) if raw else None
        auth.check_write_under(principal, prefix, info["owner"] if info else None)
        if info is None and prefix != self.node_prefix:
            raise InsufficientPermissions(f"prefix {prefix} is not allocated")
        if info is not None and info["status"] != "approved":
            raise InsufficientPermissions(f"prefix {prefix} is {info['status']}, not approved")
        if principal.role == "enterprise":
            ent = ctx.get("enterprises", principal.credit_code.encode())
            status = json.loads(ent)["status"] if ent else "unknown"
            if status != "approved":
                raise InsufficientPermissions(f"enterprise {principal.credit_code} is {status}, not approved")
        cache[prefix] = None

    def _check_template(
        self,
        ctx: WriteContext,
        prefix: str,
        version: str,
        values: Sequence[Value],
        handle: str,
        cache: dict[tuple[str, str], Template],
    ) -> None:
        if not version:
            return
        template = cache.get((prefix, version))
        if template is None:
            template = self._load_template(ctx.txn, prefix, version)
            if template is None:
                raise InvalidValue(f"template version {version} does not exist for prefix {prefix}", handle=handle)
            cache[(prefix, version)] = template
        templates.check_values(template, values, handle)

    def _store_live(
        self,
        ctx: WriteContext,
        item: _Prepared,
        values: Sequence[Value],
        template_version: str,
        created: int,
        old_values: Sequence[Value],
        op: int,
        actor: str,
    ) -> int:
        stored = list(values)
        if template_version:
            stored.append(_records.template_value(template_version, ctx.now))
        stamped = _records.stamp(stored, old_values, ctx.now)
        record = _records.build(item.handle, item.key, stamped, created, ctx.now, template_version)
        ctx.put("identifiers", item.key, record)
        self._reindex(ctx, item.key, old_values, stamped)
        return ctx.log(op, "identifiers", item.key, record, actor)

    @staticmethod
    def _reindex(ctx: WriteContext, key: bytes, old: Sequence[Value], new: Sequence[Value]) -> None:
        before = _records.index_entries(key, old)
        after = _records.index_entries(key, new)
        for db, ikey in before - after:
            ctx.delete(db, ikey)
        for db, ikey in after - before:
            ctx.put(db, ikey, b"")

    def _create_one(
        self,
        ctx: WriteContext,
        principal: Principal,
        item: _Prepared,
        auth_cache: dict[str, None],
        tpl_cache: dict[tuple[str, str], Template],
    ) -> WriteOutcome:
        self._check_writable(ctx, principal, item.prefix, auth_cache)
        self._check_template(ctx, item.prefix, item.template_version, item.values, item.handle, tpl_cache)
        raw = ctx.get("identifiers", item.key)
        was_tombstone = False
        if raw is not None:
            old = _records.decode(item.key, raw)
            if not old.deleted:
                old_user = sorted((v for v in old.values if v.index != TEMPLATE_VERSION_INDEX), key=lambda v: v.index)
                new_user = sorted(item.values, key=lambda v: v.index)
                if (
                    old.template_version == item.template_version
                    and len(old_user) == len(new_user)
                    and all(a.same_content(b) for a, b in zip(old_user, new_user, strict=False))
                ):
                    return WriteOutcome(item.handle, 1, "identifier exists with identical content", created=False)
                raise HandleAlreadyExists(
                    f"handle {item.handle} already exists with different values", handle=item.handle
                )
            was_tombstone = True
        seq = self._store_live(ctx, item, item.values, item.template_version, ctx.now, (), OP_CREATE, principal.actor)
        ctx.add_counter(_counter_key(item.prefix, "live"), 1)
        ctx.add_counter(_counter_key(item.prefix, "created"), 1)
        if was_tombstone:
            ctx.add_counter(_counter_key(item.prefix, "tombstones"), -1)
        return WriteOutcome(item.handle, 1, "", created=True, sequence=seq)

    def _update_one(
        self,
        ctx: WriteContext,
        principal: Principal,
        item: _Prepared,
        auth_cache: dict[str, None],
        tpl_cache: dict[tuple[str, str], Template],
    ) -> WriteOutcome:
        upd = item.update
        assert upd is not None
        self._check_writable(ctx, principal, item.prefix, auth_cache)
        old = self._live_record(ctx, item)
        current = {v.index: v for v in old.values if v.index != TEMPLATE_VERSION_INDEX}
        if upd.mode == "replace":
            current = {v.index: v for v in item.values}
        elif upd.mode == "add":
            for v in item.values:
                if v.index in current:
                    raise ValueAlreadyExists(
                        f"handle {item.handle} already has a value at index {v.index}", handle=item.handle
                    )
                current[v.index] = v
        elif upd.mode == "modify":
            for v in item.values:
                if v.index not in current:
                    raise ValuesNotFound(f"handle {item.handle} has no value at index {v.index}", handle=item.handle)
                current[v.index] = v
        else:  # remove
            for index in upd.remove_indexes:
                if index not in current:
                    raise ValuesNotFound(f"handle {item.handle} has no value at index {index}", handle=item.handle)
                del current[index]
        new_values = sorted(current.values(), key=lambda v: v.index)
        check_value_set(new_values, item.handle)
        version = upd.template_version or old.template_version
        self._check_template(ctx, item.prefix, version, new_values, item.handle, tpl_cache)
        seq = self._store_live(ctx, item, new_values, version, old.created, old.values, OP_UPDATE, principal.actor)
        return WriteOutcome(item.handle, 1, "", created=False, sequence=seq)

    def _live_record(self, ctx: WriteContext, item: _Prepared) -> Record:
        raw = ctx.get("identifiers", item.key)
        if raw is None:
            raise HandleNotFound(f"handle {item.handle} not found", handle=item.handle)
        old = _records.decode(item.key, raw)
        if old.deleted:
            raise HandleDeleted(f"handle {item.handle} was deleted", handle=item.handle)
        return old

    def _delete_one(
        self,
        ctx: WriteContext,
        principal: Principal,
        item: _Prepared,
        auth_cache: dict[str, None],
        tpl_cache: dict[tuple[str, str], Template],
    ) -> WriteOutcome:
        self._check_writable(ctx, principal, item.prefix, auth_cache)
        old = self._live_record(ctx, item)
        record = _records.tombstone(item.handle, item.key, old.created, ctx.now)
        ctx.put("identifiers", item.key, record)
        self._reindex(ctx, item.key, old.values, ())
        seq = ctx.log(OP_DELETE, "identifiers", item.key, record, principal.actor)
        ctx.add_counter(_counter_key(item.prefix, "live"), -1)
        ctx.add_counter(_counter_key(item.prefix, "tombstones"), 1)
        ctx.add_counter(_counter_key(item.prefix, "deleted"), 1)
        return WriteOutcome(item.handle, 1, "", sequence=seq)

    async def _run_items(
        self,
        principal: Principal,
        prepared: list[_Prepared | HandleError],
        handles: list[str],
        one: Callable[..., WriteOutcome],
    ) -> list[WriteOutcome]:
        """Write the prepared items in one writer operation, each in its own
        nested transaction, so a failing item leaves no trace and the others
        are written. Returns one outcome per item, in order."""
        auth.require_authenticated(principal)

        def op(ctx: WriteContext) -> list[WriteOutcome]:
            auth_cache: dict[str, None] = {}
            tpl_cache: dict[tuple[str, str], Template] = {}
            out = []
            for handle, item in zip(handles, prepared, strict=False):
                if isinstance(item, HandleError):
                    out.append(WriteOutcome.failed(handle, item))
                    continue
                try:
                    with ctx.nested():
                        out.append(one(ctx, principal, item, auth_cache, tpl_cache))
                except HandleError as exc:
                    out.append(WriteOutcome.failed(item.handle, exc))
            return out

        return await self._write(op)

    @staticmethod
    def _check_batch(items: Sequence[Any]) -> None:
        if len(items) > MAX_BATCH:
            raise InvalidValue(f"a batch holds at most {MAX_BATCH} items, got {len(items)}")

    def _prepare_write(self, item: IdentifierWrite | HandleError) -> _Prepared | HandleError:
        if isinstance(item, HandleError):
            return item
        try:
            return self._prepare(item.handle, item.values, item.template_version, need_values=True)
        except HandleError as exc:
            return exc

    def _prepare_update(self, item: IdentifierUpdate | HandleError) -> _Prepared | HandleError:
        if isinstance(item, HandleError):
            return item
        try:
            if item.mode not in UPDATE_MODES:
                raise InvalidValue(f"update mode must be one of {', '.join(UPDATE_MODES)}, got {item.mode!r}")
            prepared = self._prepare(item.handle, item.values, item.template_version, need_values=item.mode != "remove")
            if item.mode == "remove" and not item.remove_indexes:
                raise InvalidValue("remove needs at least one index", handle=prepared.handle)
            prepared.update = item
            return prepared
        except HandleError as exc:
            return exc

    async def _run_one(self, principal: Principal, item: _Prepared, one: Callable[..., WriteOutcome]) -> WriteOutcome:
        """One write in its own writer operation; its typed error propagates."""
        return await self._write(lambda ctx: one(ctx, principal, item, {}, {}))

    @staticmethod
    def _given_handle(item: IdentifierWrite | IdentifierUpdate | HandleError) -> str:
        return item.handle

    async def create(self, principal: Principal, item: IdentifierWrite) -> WriteOutcome:
        """Create an identifier; an identical repeat succeeds (created=False).

        Raises:
            HandleAlreadyExists (101) for different existing content, InvalidHandle,
            InvalidValue (template violations), AuthenticationNeeded,
            InsufficientPermissions.
        """
        auth.require_authenticated(principal)
        prepared = self._prepare(item.handle, item.values, item.template_version, need_values=True)
        return await self._run_one(principal, prepared, self._create_one)

    async def update(self, principal: Principal, item: IdentifierUpdate) -> WriteOutcome:
        """Replace all values, or add / modify / remove values by index.

        Raises:
            HandleNotFound / HandleDeleted (100), ValueAlreadyExists (201),
            ValuesNotFound (200), InvalidValue, permission errors.
        """
        auth.require_authenticated(principal)
        prepared = self._prepare_update(item)
        if isinstance(prepared, HandleError):
            raise prepared
        return await self._run_one(principal, prepared, self._update_one)

    async def delete(self, principal: Principal, handle: str) -> WriteOutcome:
        """Delete an identifier, leaving a tombstone (resolves as "deleted")."""
        auth.require_authenticated(principal)
        prepared = self._prepare(handle, (), "", need_values=False)
        return await self._run_one(principal, prepared, self._delete_one)

    async def batch_create(
        self, principal: Principal, items: Sequence[IdentifierWrite | HandleError]
    ) -> list[WriteOutcome]:
        """At most 2000 items; a HandleError item (a request that failed to
        decode) is reported as that error. Never raises for one item.

        Raises:
            InvalidValue: more than 2000 items. AuthenticationNeeded when anonymous.
        """
        auth.require_authenticated(principal)
        self._check_batch(items)
        prepared = [self._prepare_write(i) for i in items]
        return await self._run_items(principal, prepared, [self._given_handle(i) for i in items], self._create_one)

    async def batch_update(
        self, principal: Principal, items: Sequence[IdentifierUpdate | HandleError]
    ) -> list[WriteOutcome]:
        auth.require_authenticated(principal)
        self._check_batch(items)
        prepared = [self._prepare_update(i) for i in items]
        return await self._run_items(principal, prepared, [self._given_handle(i) for i in items], self._update_one)

    async def batch_delete(self, principal: Principal, handles: Sequence[str]) -> list[WriteOutcome]:
        auth.require_authenticated(principal)
        self._check_batch(handles)
        prepared: list[_Prepared | HandleError] = []
        for handle in handles:
            try:
                prepared.append(self._prepare(handle, (), "", need_values=False))
            except HandleError as exc:
                prepared.append(exc)
        return await self._run_items(principal, prepared, list(handles), self._delete_one)

    # -- export and statistics -------------------------------------------------

    def export(self, principal: Principal, prefix: str = "") -> Iterator[Record]:
        """Every live identifier the principal may list, in key order.

        Reads in chunks, each in its own short read transaction, so a long
        export never pins old pages. An enterprise lists only its prefixes.
        """
        auth.require_authenticated(principal)
        allowed: tuple[str, ...] | None = None
        if principal.role == "enterprise":
            allowed = self._prefixes_of(principal.credit_code)
        if prefix:
            prefix = _fastpath.parse_prefix(prefix)
            if allowed is not None and prefix not in allowed:
                raise InsufficientPermissions(f"enterprise {principal.credit_code} does not own prefix {prefix}")
            ranges = [prefix]
        elif allowed is not None:
            ranges = sorted(allowed)
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
        out: dict[str, Any] = {
            "node_prefix": self.node_prefix,
            "identifiers": sum(r["identifiers"] for r in rows),
            "tombstones": sum(r.pop("tombstones") for r in rows),
            "enterprises": enterprises if own is None else 1,
            "prefixes": prefixes if own is None else len(own),
            "changelog_sequence": self.writer.sequence,
            "per_prefix": rows,
        }
        out.update(self.store.usage())
        return out
