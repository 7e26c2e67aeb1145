"""Constants and the error class shared by both implementations of each hot path.

Both twins import from here, so ``except RecordError`` catches the error of
either implementation and the limits cannot drift apart.
"""

from __future__ import annotations

__all__ = [
    "FLAG_FULL_HANDLE",
    "FLAG_TOMBSTONE",
    "FORMAT_VERSION",
    "MAX_HANDLE_CHARS",
    "MAX_KEY_BYTES",
    "MAX_PREFIX_CHARS",
    "PERM_ADMIN_READ",
    "PERM_ADMIN_WRITE",
    "PERM_PUBLIC_READ",
    "PERM_PUBLIC_WRITE",
    "RecordError",
]

# Identifiers (see _identifiers_py.py).
MAX_HANDLE_CHARS = 255
MAX_PREFIX_CHARS = 64
MAX_KEY_BYTES = 511  # LMDB's default maximum key size

# Stored record (see _record_py.py).
FORMAT_VERSION = 1
FLAG_TOMBSTONE = 1
FLAG_FULL_HANDLE = 2

# Handle value permission bits.
PERM_ADMIN_READ = 8
PERM_ADMIN_WRITE = 4
PERM_PUBLIC_READ = 2
PERM_PUBLIC_WRITE = 1


class RecordError(ValueError):
    """A stored record or wire message that cannot be decoded."""
