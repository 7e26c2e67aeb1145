"""Pure-Python identifier parsing, normalisation and LMDB key encoding.

This twin is the specification of the compiled module: same names, same
results, same exception types and messages (STYLE.md points 5 and 6).
"""

from __future__ import annotations

import hashlib
import unicodedata

from idnode._fastpath._common import MAX_HANDLE_CHARS, MAX_KEY_BYTES, MAX_PREFIX_CHARS
from idnode.registry.errors import InvalidHandle

__all__ = [
    "handle_key",
    "key_handle",
    "key_is_digested",
    "normalise_handle",
    "parse_handle",
    "parse_prefix",
    "prefix_key",
]

_DIGEST_BYTES = 32
_KEY_HEAD_BYTES = MAX_KEY_BYTES - _DIGEST_BYTES


def _bad(text: str, what: str) -> InvalidHandle:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return InvalidHandle(f"invalid handle {shown!r}: {what}", handle=shown)


def _check_chars(text: str, start: int, part: str, whole: str) -> None:
    """Reject control characters and lone surrogates, naming the position."""
    if part.isascii() and part.isprintable():
        return
    for offset, char in enumerate(part):
        cat = unicodedata.category(char)
        if cat == "Cc":
            raise _bad(whole, f"control character U+{ord(char):04X} at position {start + offset}")
        if cat == "Cs":
            raise _bad(whole, f"unpaired surrogate U+{ord(char):04X} at position {start + offset}")


def parse_handle(text: str) -> tuple[str, str]:
    """Split and normalise ``<prefix>/<suffix>``.

    Returns ``(prefix, suffix)``: NFC-normalised, the prefix folded to lower
    case, the suffix kept as given.

    Raises:
        InvalidHandle (code 102): not a str, no ``/``, an empty prefix, prefix
        segment or suffix, a control character, whitespace in the prefix, a
        prefix over 64 or a handle over 255 characters. The message says
        what is wrong and where (character positions count from 0).
    """
    if not isinstance(text, str):
        raise InvalidHandle(f"invalid handle: expected text, got {type(text).__name__}")
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        _check_chars(text, 0, text, text)  # normalize() would pass surrogates through
        text = unicodedata.normalize("NFC", text)
    slash = text.find("/")
    if slash < 0:
        if not text:
            raise _bad(text, "empty handle")
        raise _bad(text, "no '/' between prefix and suffix")
    if slash == 0:
        raise _bad(text, "empty prefix before '/' at position 0")
    if slash == len(text) - 1:
        raise _bad(text, f"empty suffix after '/' at position {slash}")
    if len(text) > MAX_HANDLE_CHARS:
        raise _bad(text, f"{len(text)} characters, at most {MAX_HANDLE_CHARS} allowed")
    if slash > MAX_PREFIX_CHARS:
        raise _bad(text, f"prefix of {slash} characters, at most {MAX_PREFIX_CHARS} allowed")
    prefix = text[:slash]
    suffix = text[slash + 1 :]
    _check_chars(text, 0, prefix, text)
    _check_chars(text, slash + 1, suffix, text)
    position = 0
    for segment in prefix.split("."):
        if not segment:
            raise _bad(text, f"empty prefix segment at position {position}")
        for offset, char in enumerate(segment):
            if char.isspace():
                raise _bad(text, f"whitespace in prefix at position {position + offset}")
        position += len(segment) + 1
    return prefix.lower(), suffix


def normalise_handle(text: str) -> str:
    """The canonical text of a handle (see :func:`parse_handle`)."""
    prefix, suffix = parse_handle(text)
    return prefix + "/" + suffix


def parse_prefix(text: str) -> str:
    """Normalise a bare prefix (``88.118.8``); same rules as the prefix part."""
    if not isinstance(text, str) or "/" in text or not text:
        raise InvalidHandle(f"invalid prefix {text!r}: expected dot-separated segments, no '/'")
    prefix, _ = parse_handle(text + "/x")
    return prefix


def handle_key(prefix: str, suffix: str) -> bytes:
    """The LMDB key of a normalised handle: prefix, 0x00, suffix (UTF-8).

    One prefix is one ordered key range. Keys over LMDB's 511-byte limit keep
    a fixed head and end in the SHA-256 of the whole key; the full handle is
    then stored in the record and compared on read.
    """
    key = prefix.encode() + b"\x00" + suffix.encode()
    if len(key) > MAX_KEY_BYTES:
        key = key[:_KEY_HEAD_BYTES] + hashlib.sha256(key).digest()
    return key


def key_is_digested(key: bytes) -> bool:
    """True when ``key`` was shortened (its record stores the full handle)."""
    return len(key) == MAX_KEY_BYTES


def prefix_key(prefix: str) -> bytes:
    """The first key of a normalised prefix's range (every key starts with it)."""
    return prefix.encode() + b"\x00"


def key_handle(key: bytes) -> str:
    """The handle text of a key that was not digested."""
    prefix, _, suffix = key.partition(b"\x00")
    return prefix.decode() + "/" + suffix.decode()
