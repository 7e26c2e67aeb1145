"""Hot paths: the compiled (Cython) modules when built, else their pure-Python twins.

Nothing outside this package imports an implementation module directly.
``IDNODE_NO_EXTENSIONS`` (set, and not ``0``) forces the twins. :data:`COMPILED`
and :data:`IMPLEMENTATION` say which is in use (``idnode version`` prints it);
:data:`BUILD_ERROR` says why the compiled modules are not (empty when they are).
The DNS wire codec is used as a module, :data:`dns` (``from idnode._fastpath
import dns``): its many constants would crowd this namespace.
"""

from __future__ import annotations

import os

from idnode._fastpath._common import *  # noqa: F403

BUILD_ERROR = ""
if os.environ.get("IDNODE_NO_EXTENSIONS", "") not in ("", "0"):
    BUILD_ERROR = "IDNODE_NO_EXTENSIONS is set"
else:
    try:
        from idnode._fastpath import _dns_c as dns
        from idnode._fastpath._dnsanswer_c import *  # noqa: F403
        from idnode._fastpath._identifiers_c import *  # noqa: F403
        from idnode._fastpath._record_c import *  # noqa: F403
        from idnode._fastpath._resolve_c import *  # noqa: F403
    except ImportError as exc:  # not built: no compiler at install time, or a source checkout
        BUILD_ERROR = f"compiled modules not importable: {exc}"
COMPILED = not BUILD_ERROR
if not COMPILED:
    from idnode._fastpath import _dns_py as dns  # noqa: F401  (re-exported)
    from idnode._fastpath._dnsanswer_py import *  # noqa: F403
    from idnode._fastpath._identifiers_py import *  # noqa: F403
    from idnode._fastpath._record_py import *  # noqa: F403
    from idnode._fastpath._resolve_py import *  # noqa: F403
IMPLEMENTATION = "cython" if COMPILED else "python"
