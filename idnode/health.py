"""Readiness of one node process: the list of problems that keep it from serving, shared by gRPC health and /readyz.

One :class:`Health` per process holds named checks. A check is a plain
callable that returns ``None`` when all is well or one short sentence saying
what is wrong; it must be cheap (it runs on the event loop, for every
``GET /readyz`` and once per :data:`INTERVAL` for the gRPC health service)
and must not raise (an exception counts as a problem naming the check). The
front ends only turn the list into their protocol: ``/readyz`` answers 200
or 503 with the problems, the gRPC health service SERVING or NOT_SERVING
(:func:`idnode.resolver.grpc.server.start_grpc_server` refreshes it every
:data:`INTERVAL` seconds, so a ``Watch`` sees changes within that time).

Checks every process has (added by the node, ``idnode/node.py`` and
``idnode/prefork.py``):

``store``
    a read transaction on the LMDB environment opens and reads the schema
    version (about a microsecond; fails when the environment is closed, its
    reader slots are exhausted, or the map cannot be adopted);
``writer``
    prefork reader workers only: the writer process accepts connections on
    its Unix sockets (where Registry calls and HTTP writes are forwarded);
``draining``
    set once SIGTERM arrived: balancers stop sending while in-flight work
    finishes.

Adding a check (for example a replica's "bootstrapping" or "lag above
bound")::

    health = health_of(registry)          # the process's Health
    health.add_check("replication", lambda: None if lag <= bound else f"replication lag {lag} s above {bound} s")

``/healthz`` (alive) does not look at checks: a process that answers it is alive.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

__all__ = ["INTERVAL", "Check", "Health", "health_of", "store_check", "unix_socket_check"]

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between refreshes of the gRPC health status
Check = Callable[[], str | None]


class Health:
    """The readiness checks of one process, in the order they were added."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self.draining = False

    def add_check(self, name: str, check: Check) -> None:
        """Add (or replace) the check ``name``; ``check()`` returns None or a problem."""
        self._checks[name] = check

    def remove_check(self, name: str) -> None:
        self._checks.pop(name, None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._checks)

    def problems(self) -> list[str]:
        """Every current problem as ``"name: sentence"``; empty when the process is ready."""
        found = ["draining: the node is shutting down"] if self.draining else []
        for name, check in self._checks.items():
            try:
                problem = check()
            except Exception as exc:  # a broken check is a problem, never a crashed probe
                log.warning("readiness check %s failed", name, exc_info=True)
                problem = f"check failed: {type(exc).__name__}: {exc}"
            if problem:
                found.append(f"{name}: {problem}")
        return found

    def report(self) -> dict[str, Any]:
        """The ``/readyz`` body: ``{"status": "ready"|"not ready", "checks": [...], "problems": [...]}``."""
        problems = self.problems()
        return {"status": "not ready" if problems else "ready", "checks": list(self.names), "problems": problems}


def store_check(store: Any) -> Check:
    """A check that the LMDB environment of ``store`` can be read (one short read transaction)."""

    def check() -> str | None:
        if getattr(store, "env", None) is None:
            return "the LMDB environment is closed"
        try:
            with store.begin() as txn:
                if txn.get(b"schema_version", db=store.dbs["meta"]) is None:
                    return "the data folder has no schema version (not initialised)"
        except Exception as exc:  # lmdb.Error subclasses, e.g. ReadersFullError
            return f"cannot read LMDB: {type(exc).__name__}: {exc}"
        return None

    return check


def unix_socket_check(what: str, *paths: str) -> Check:
    """A check that something accepts connections on each Unix socket in ``paths``.

    A non-blocking connect: refused or missing means nobody listens; a full
    accept queue (EAGAIN) still counts as reachable (the process is there,
    only busy).
    """

    def check() -> str | None:
        for path in paths:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.setblocking(False)
                code = sock.connect_ex(path)
            if code not in (0, errno.EAGAIN, errno.EINPROGRESS):
                return f"{what} not reachable at {path}: {errno.errorcode.get(code, code)}"
        return None

    return check


def health_of(registry: Any) -> Health:
    """The :class:`Health` of the process serving ``registry`` (``registry.health``).

    A registry the node did not give one (unit tests building a front end
    directly) gets one with the store check.
    """
    health = getattr(registry, "health", None)
    if health is None:
        health = Health()
        health.add_check("store", store_check(registry.store))
        registry.health = health
    return health
