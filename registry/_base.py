"""The registry's shared state and helpers, used by its parts.

:class:`RegistryBase` holds the store, the writer and the node prefix;
``_accounts.py`` (enterprises, prefixes, templates, tokens) and
``_identifiers.py`` (identifier writes) add to it, and
:class:`idnode.registry.service.Registry` puts them together.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from idnode import _fastpath
from idnode.registry import auth
from idnode.registry.auth import Principal
from idnode.registry.changelog import OP_PUT
from idnode.registry.errors import InsufficientPermissions, ServerBackup
from idnode.registry.store import Store
from idnode.registry.writer import WriteContext, Writer

ADMIN_IDENTITY_INDEX = 300


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _counter_key(prefix: str, name: str) -> bytes:
    return prefix.encode() + b"\x00" + name.encode()


class RegistryBase:
    """Store, writer and node prefix, with the helpers every part uses."""

    store: Store
    writer: Writer
    node_prefix: str
    top: str | None = None  # the upstream top-level node (``--top``); with one, new prefixes start pending
    replica_of: str | None = None  # the primary (``--replica-of``) of a read replica: its writes are refused

    async def _write(self, fn: Callable[[WriteContext], Any], *, local: bool = False) -> Any:
        """Hand ``fn`` to the writer; its result once durable.

        Raises:
            ServerBackup (302): this node is a read replica and ``fn`` is not
            ``local`` (node-local state that is not replicated, e.g. sessions).
        """
        if self.replica_of and not local:
            raise ServerBackup(f"this node is a read-only replica: send writes to its primary {self.replica_of}")
        return await asyncio.wrap_future(self.writer.submit(fn))

    @staticmethod
    def _put(ctx: WriteContext, db: str, key: bytes, value: bytes, actor: str) -> int:
        ctx.put(db, key, value)
        return ctx.log(OP_PUT, db, key, value, actor)

    def _read_json(self, db: str, key: bytes) -> dict[str, Any] | None:
        raw = self.store.get(db, key)
        return None if raw is None else json.loads(raw)

    def _prefixes_of(self, credit_code: str) -> tuple[str, ...]:
        with self.store.begin() as txn:
            return tuple(
                bytes(k).decode()
                for k, v in txn.cursor(db=self.store.dbs["prefixes"])
                if json.loads(v)["owner"] == credit_code
            )

    def _listable_prefix(self, principal: Principal, prefix: str) -> str:
        """``prefix`` parsed, once the principal may list its identifiers (an enterprise only its own prefixes).

        Raises:
            AuthenticationNeeded (402), InvalidHandle (102): malformed, InsufficientPermissions (401).
        """
        auth.require_authenticated(principal)
        prefix = _fastpath.parse_prefix(prefix)
        if principal.role == "enterprise" and prefix not in self._prefixes_of(principal.credit_code):
            raise InsufficientPermissions(f"enterprise {principal.credit_code} does not own prefix {prefix}")
        return prefix

    def serves(self, prefix: str) -> bool:
        """True when ``prefix`` is this node's prefix or lies under it."""
        return prefix == self.node_prefix or prefix.startswith(self.node_prefix + ".")

    def prefix_owner(self, prefix: str) -> str | None:
        info = self._read_json("prefixes", prefix.encode())
        return None if info is None else info["owner"]
