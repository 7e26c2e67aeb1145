"""Hot paths: the compiled module when built, else its pure-Python twin.

Nothing outside this package imports an implementation module directly.
``IDNODE_NO_EXTENSIONS=1`` forces the twins; :data:`COMPILED` says which is
in use (``idnode version`` prints it). The Cython side arrives with the
fast-path issue; until then the twins are always used.
"""

from __future__ import annotations

import os

COMPILED = False
if not os.environ.get("IDNODE_NO_EXTENSIONS"):
    try:  # pragma: no cover - depends on the build
        from idnode._fastpath._identifiers_c import *  # type: ignore[import-not-found]  # noqa: F403
        from idnode._fastpath._record_c import *  # type: ignore[import-not-found]  # noqa: F403

        COMPILED = True
    except ImportError:
        pass
if not COMPILED:
    from idnode._fastpath._identifiers_py import *  # noqa: F403
    from idnode._fastpath._record_py import *  # noqa: F403

from idnode._fastpath._identifiers_py import MAX_HANDLE_CHARS, MAX_KEY_BYTES, MAX_PREFIX_CHARS  # noqa: E402,F401
from idnode._fastpath._record_py import (  # noqa: E402,F401
    FLAG_FULL_HANDLE,
    FLAG_TOMBSTONE,
    FORMAT_VERSION,
    PERM_ADMIN_READ,
    PERM_ADMIN_WRITE,
    PERM_PUBLIC_READ,
    PERM_PUBLIC_WRITE,
    RecordError,
)

IMPLEMENTATION = "cython" if COMPILED else "python"
