"""idnode: a secondary node of the industrial-internet identifier resolution system."""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__: str = _metadata.version("idnode")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"

__all__ = ["__version__"]
