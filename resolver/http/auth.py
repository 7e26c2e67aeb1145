"""Who is calling: the Authorization header of an HTTP request -> the registry's Principal."""

from __future__ import annotations

import base64
import binascii
import urllib.parse

from aiohttp import web

from idnode.registry.auth import Principal
from idnode.registry.errors import AuthenticationFailed
from idnode.resolver.http.keys import AUTHENTICATORS, REGISTRY

__all__ = ["credential_of", "principal_of"]


def credential_of(request: web.Request) -> tuple[str, str, str] | None:
    """``(scheme, user, secret)`` of the request's Authorization header, or None.

    ``Bearer <token>`` gives ``("bearer", "", token)``; ``Basic`` gives
    ``("basic", user, password)`` with the user URL-decoded (Handle clients
    send ``300%3A88.118.8/ADMIN``); ``Handle sessionId="..."`` gives
    ``("session", "", id)``.

    Raises:
        AuthenticationFailed (403): a malformed header.
    """
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    scheme = scheme.lower()
    rest = rest.strip()
    if scheme == "bearer" and rest:
        return "bearer", "", rest
    if scheme == "basic" and rest:
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationFailed("malformed Basic credentials") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise AuthenticationFailed("malformed Basic credentials: no ':' between user and secret")
        return "basic", urllib.parse.unquote(user), password
    if scheme == "handle":
        for part in rest.split(","):
            key, _, value = part.strip().partition("=")
            if key.strip() == "sessionId" and value:
                return "session", "", value.strip().strip('"')
    raise AuthenticationFailed(f"unsupported Authorization scheme {scheme!r} (Bearer, Basic or Handle sessionId)")


def principal_of(request: web.Request) -> Principal:
    """The caller: anonymous without credentials.

    Bearer tokens and Basic passwords that are node credentials
    (``idn1.<id>.<secret>``) are checked by the registry; other schemes are
    resolved by the resolver given in ``app[AUTHENTICATORS]`` (scheme ->
    callable(registry, user, secret) -> Principal), which the Handle REST
    module registers for Basic ``<index>:<handle>`` users and sessions.

    Raises:
        AuthenticationFailed (403): unknown, revoked or wrong credentials.
    """
    registry = request.app[REGISTRY]
    found = credential_of(request)
    if found is None:
        return registry.authenticate(None)
    scheme, user, secret = found
    extra = request.app[AUTHENTICATORS].get(scheme)
    if extra is not None:
        return extra(registry, user, secret)
    if scheme in ("bearer", "basic"):
        return registry.authenticate(secret)
    raise AuthenticationFailed(f"{scheme} credentials are not accepted here")
