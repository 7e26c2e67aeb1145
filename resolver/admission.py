"""Replica admission: a read replica refuses resolves while its data is partial (primary never reached, bootstrapping).

Each serving process of a replica keeps one flag, :func:`refusal` (None, or
why resolves are refused), recomputed from the replica's folder
(:func:`idnode.sync.replica.replication_status`) whenever the process's
readiness checks run (``idnode/health.py``: the gRPC health refresh every
second, and every ``GET /readyz``). Reading it costs a global lookup; a
primary never sets it. While set, resolves answer
:class:`ReplicaNotReady` (Handle code 3): gRPC UNAVAILABLE, HTTP 503, DNS
SERVFAIL. A replica that has reached its primary once serves from then on,
even lagging or disconnected (readiness, ``--max-replica-lag``, takes it out
of a balancer's pool instead). Registry calls are unaffected (a replica
refuses or forwards writes by itself), and so is ``Follow``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import grpc

from idnode.registry.errors import ServerBusy

__all__ = ["ReplicaNotReady", "gate_check", "refusal", "set_refusal"]

_REFUSAL: str | None = None


class ReplicaNotReady(ServerBusy):
    """this replica is not ready to answer resolves, retry later"""

    grpc_status = grpc.StatusCode.UNAVAILABLE  # a client or balancer tries another node


def refusal() -> str | None:
    """Why this process refuses resolves now (a sentence), or None when it serves them."""
    return _REFUSAL


def set_refusal(reason: str | None) -> None:
    """Set this process's flag (tests, and :func:`gate_check`)."""
    global _REFUSAL
    _REFUSAL = reason


def _reason(store: Any) -> str | None:
    from idnode.sync.replica import replication_status

    status = replication_status(store)
    if status is None or not status["updated"]:  # no state, or only "disconnected" records: never heard from it
        return "this read replica has not reached its primary yet: its data may be partial"
    if status["state"] == "bootstrapping":
        return "this read replica is bootstrapping from its primary's snapshot: its data is partial"
    return None


def gate_check(store: Any, check: Callable[[], str | None]) -> Callable[[], str | None]:
    """``check`` (the replica's readiness check) also refreshing this process's flag each time it runs.

    The flag is computed right away too, so a replica refuses from its first request.
    """
    set_refusal(_reason(store))

    def refreshed() -> str | None:
        with contextlib.suppress(Exception):  # the store check reports a broken store; keep the last flag
            set_refusal(_reason(store))
        return check()

    return refreshed
