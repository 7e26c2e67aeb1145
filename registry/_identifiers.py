"""Registry part: identifier creates, updates, deletes and their batches."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

from idnode import _fastpath
from idnode.registry import _records, auth, templates
from idnode.registry._base import RegistryBase, _counter_key
from idnode.registry.auth import Principal
from idnode.registry.changelog import OP_CREATE, OP_DELETE, OP_UPDATE
from idnode.registry.errors import (
    HandleAlreadyExists,
    HandleDeleted,
    HandleError,
    HandleNotFound,
    InsufficientPermissions,
    InvalidValue,
    ServerNotResponsible,
    ValueAlreadyExists,
    ValuesNotFound,
)
from idnode.registry.model import (
    MAX_BATCH,
    UPDATE_MODES,
    IdentifierUpdate,
    IdentifierWrite,
    Record,
    Template,
    WriteOutcome,
)
from idnode.registry.values import (
    TEMPLATE_VERSION_INDEX,
    Value,
    check_value_set,
)
from idnode.registry.writer import WriteContext


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


class IdentifiersMixin(RegistryBase):
    """Identifier writes: stateless checks first, then one writer operation
    that checks authorization, templates and existing content, and writes."""

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
            if info["status"] == "pending":
                raise InsufficientPermissions(f"prefix {prefix} is pending approval by the top-level node")
            if info["status"] == "rejected":
                raise InsufficientPermissions(f"prefix {prefix} was rejected by the top-level node")
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
        stamps = _records.stamp(stored, old_values, ctx.now)
        record = _records.build(item.handle, item.key, stored, created, ctx.now, template_version, stamps)
        ctx.put("identifiers", item.key, record)
        self._reindex(ctx, item.key, old_values, stored)
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
        elif upd.mode == "merge":  # Handle REST PUT with index=: set these values, adding or replacing
            for v in item.values:
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
        return await self._run_items(principal, prepared, [i.handle for i in items], self._create_one)

    async def batch_update(
        self, principal: Principal, items: Sequence[IdentifierUpdate | HandleError]
    ) -> list[WriteOutcome]:
        auth.require_authenticated(principal)
        self._check_batch(items)
        prepared = [self._prepare_update(i) for i in items]
        return await self._run_items(principal, prepared, [i.handle for i in items], self._update_one)

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
