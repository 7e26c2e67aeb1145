"""The typed keys of the aiohttp application's shared state (registry, settings, extra authenticators)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

__all__ = ["AUTHENTICATORS", "REGISTRY", "SETTINGS", "UNREACHABLE_ANSWERS"]

REGISTRY: web.AppKey[Any] = web.AppKey("registry", object)
SETTINGS: web.AppKey[Any] = web.AppKey("settings", object)
# scheme ("basic", "session", ...) -> callable(registry, user, secret) -> Principal
AUTHENTICATORS: web.AppKey[dict[str, Callable[..., Any]]] = web.AppKey("authenticators", dict)
# path prefix ("/identityv2/") -> callable(message) -> the answer a prefork worker gives for requests
# under it when the writer process is unreachable (default: the Handle-shaped 503)
UNREACHABLE_ANSWERS: web.AppKey[dict[str, Callable[[str], Any]]] = web.AppKey("unreachable_answers", dict)
