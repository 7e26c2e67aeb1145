"""Registry part: enterprises, prefixes, metadata templates and API tokens."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from idnode import _fastpath
from idnode.registry import _records, auth, templates, uscc
from idnode.registry._base import ADMIN_IDENTITY_INDEX, RegistryBase, _counter_key, _json
from idnode.registry.auth import Credential, Principal
from idnode.registry.changelog import OP_CREATE, OP_DELETE
from idnode.registry.errors import (
    HandleAlreadyExists,
    HandleNotFound,
    InsufficientPermissions,
    InvalidValue,
    ServerNotResponsible,
)
from idnode.registry.model import (
    ENTERPRISE_STATUSES,
    Enterprise,
    IssuedToken,
    PrefixInfo,
    Template,
    TokenInfo,
)
from idnode.registry.store import from_u64
from idnode.registry.values import (
    ADMIN_ADD_PREFIX,
    ADMIN_ALL,
    ADMIN_DELETE_PREFIX,
    PERM_ADMIN_READ,
    PERM_ADMIN_WRITE,
    PERM_PUBLIC_READ,
    AdminData,
    Value,
)
from idnode.registry.writer import WriteContext


class AccountsMixin(RegistryBase):
    """Enterprises (credit-code checked, reviewed), their prefixes, templates and tokens."""

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
        (status approved, usable at once). With one (``--top``) the prefix
        starts *pending*: the outbox asks the top-level node to approve it, and
        registrations under it are refused (401) until the answer is
        *approved* (:func:`set_prefix_status`).

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
            status = "pending" if self.top else "approved"
            data = {"prefix": chosen, "owner": code, "status": status, "created": ctx.now}
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

    def _templates_of(self, txn: Any, prefix: str) -> list[Template]:
        """Every stored version of a prefix's template, oldest first (by time stored, then version)."""
        found = []
        start = prefix.encode() + b"\x00"
        cur = txn.cursor(db=self.store.dbs["templates"])
        if cur.set_range(start):
            for k, v in cur:
                if not bytes(k).startswith(start):
                    break
                found.append(templates.template_from_json(json.loads(v)))
        return sorted(found, key=lambda t: (t.created, t.version))

    def list_templates(self, principal: Principal, prefix: str) -> list[Template]:
        """Every template version of a prefix, oldest first (anyone signed in, as :meth:`get_template`).

        Raises:
            AuthenticationNeeded (402) for anonymous; InvalidHandle (102): a malformed prefix.
        """
        auth.require_authenticated(principal)
        prefix = _fastpath.parse_prefix(prefix)
        with self.store.begin() as txn:
            return self._templates_of(txn, prefix)

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
                stored = self._templates_of(txn, prefix)
                found = stored[-1] if stored else None
        if found is None:
            what = f"version {version} " if version else ""
            raise HandleNotFound(f"no template {what}for prefix {prefix}")
        return found

    async def delete_template(self, principal: Principal, prefix: str, version: str) -> None:
        """Delete one template version of a prefix (its owner or node-admin).

        Identifiers registered under the version keep its name at index 1001;
        a later update of one must name another version (``template_version``),
        since the deleted one no longer exists. The change log records an
        ``OP_DELETE`` of the ``templates`` key with an empty payload.

        Raises:
            AuthenticationNeeded (402): anonymous. InvalidHandle (102): a
            malformed prefix. HandleNotFound (100): the prefix is not
            allocated or has no such version. InsufficientPermissions (401):
            an auditor, or an enterprise that does not own the prefix.
        """
        auth.require_authenticated(principal)
        prefix = _fastpath.parse_prefix(prefix)
        owner = self.prefix_owner(prefix)
        if owner is None:
            raise HandleNotFound(f"prefix {prefix} is not allocated")
        auth.check_write_under(principal, prefix, owner)
        key = prefix.encode() + b"\x00" + version.encode()

        def op(ctx: WriteContext) -> None:
            if not version or ctx.get("templates", key) is None:
                raise HandleNotFound(f"no template version {version} for prefix {prefix}")
            ctx.delete("templates", key)
            ctx.log(OP_DELETE, "templates", key, b"", principal.actor)

        await self._write(op)

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
        if not auth.is_token_id(token_id):
            # not an id any credential has (and "" or a long one is no valid LMDB key)
            raise InvalidValue(f"token id must be {auth.TOKEN_ID_CHARS} lowercase hex characters")

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

    def list_tokens(self, principal: Principal) -> list[TokenInfo]:
        """The tokens a principal may see, oldest first: an enterprise its own, the node admin (who manages them)
        and an auditor (read-only) every one.

        Only what may be shown (id, role, enterprise, label, created, revoked); never a secret or digest.

        Raises:
            AuthenticationNeeded (402): anonymous.
        """
        auth.require_role(principal, "node-admin", "enterprise", "auditor")
        out = []
        with self.store.begin() as txn:
            for _, raw in txn.cursor(db=self.store.dbs["credentials"]):
                cred = Credential.from_bytes(raw)
                if principal.role == "enterprise" and cred.credit_code != principal.credit_code:
                    continue
                shown = TokenInfo(cred.token_id, cred.role, cred.credit_code, cred.label, cred.created, cred.revoked)
                out.append(shown)
        return sorted(out, key=lambda t: (t.created, t.token_id))


# -- prefix approval by the top-level node (used by the outbox) -----------------------

PREFIX_STATUSES = ("pending", "approved", "rejected")


def prefixes_awaiting(store: Any) -> list[dict[str, Any]]:
    """Prefix records still to be decided or watched upstream: status pending or rejected."""
    with store.begin() as txn:
        return [
            data
            for _, v in txn.cursor(db=store.dbs["prefixes"])
            if (data := json.loads(v))["status"] in ("pending", "rejected")
        ]


def set_prefix_status(ctx: WriteContext, prefix: str, status: str, reason: str = "", decided: int = 0) -> bool:
    """Record the top-level node's decision on ``prefix`` (a write op; True when it changed).

    The record keeps ``status`` and gains ``approval``: ``{"status", "reason",
    "decided"}`` as the top node answered.
    """
    if status not in PREFIX_STATUSES:
        raise InvalidValue(f"prefix status must be one of {', '.join(PREFIX_STATUSES)}, got {status!r}")
    raw = ctx.get("prefixes", prefix.encode())
    if raw is None:
        return False
    data = json.loads(raw)
    approval = {"status": status, "reason": reason, "decided": decided}
    if data["status"] == status and data.get("approval") == approval:
        return False
    data["status"] = status
    data["approval"] = approval
    RegistryBase._put(ctx, "prefixes", prefix.encode(), _json(data), "top-level")
    return True
