"""The web console under ``/console/`` (issue 10): sign-in, enterprise and operator pages, bulk upload.

``setup(app)`` installs the console's middleware (CSRF, HTML error pages),
its static files and every area's routes. Each area module has its own
``setup(app)``; add one line here per area.
"""

from __future__ import annotations

from aiohttp.web import Application  # not `web`: that name is the console's own module (console/web.py)

from idnode.resolver.http.console import _static, auth_pages, enterprise, operator, tokens, upload, web

__all__ = ["setup"]


def setup(app: Application) -> None:
    """Register the console on ``app`` (called by ``resolver/http/server.py`` before the catch-all pages)."""
    app.middlewares.append(web.middleware)
    _static.setup(app)
    auth_pages.setup(app)
    enterprise.setup(app)
    tokens.setup(app)
    operator.setup(app)
    upload.setup(app)
