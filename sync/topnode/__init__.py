"""The reference top-level node: registered nodes, prefix approval, HS_SITE, the DR copy, statistics (sync/README.md).

The public surface is lazy so ``idnode --help`` does not load gRPC stubs and LMDB.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TopLevel", "TopNodeError", "TopStore", "run", "start_topnode_server"]


def __getattr__(name: str) -> Any:
    if name in ("TopLevel", "TopNodeError"):
        from idnode.sync.topnode import service

        return getattr(service, name)
    if name == "TopStore":
        from idnode.sync.topnode.store import TopStore

        return TopStore
    if name in ("run", "start_topnode_server"):
        from idnode.sync.topnode import server

        return getattr(server, name)
    raise AttributeError(name)
