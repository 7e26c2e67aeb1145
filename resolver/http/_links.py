"""The resolver pages' decisions, without I/O: where a handle redirects, HTML or JSON, GS1 Digital Link keys."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

from idnode.registry import gs1
from idnode.registry.values import Value

__all__ = [
    "DigitalLinkError",
    "first_url",
    "gtin_of_path",
    "matching_gtin_values",
    "prefers_json",
    "safe_url",
    "serial_matches",
]

# Schemes a page never redirects to or links: the browser would run or render the value itself.
_UNSAFE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})
_SGTIN_TYPES = frozenset({"SGTIN"})
_GTIN_TYPES = frozenset({"GTIN", "SGTIN"})


class DigitalLinkError(ValueError):
    """A GS1 Digital Link path whose key is not a valid GTIN (the page answers 400)."""


def safe_url(text: str) -> str | None:
    """``text`` as a redirect target or link, or None when it cannot be one.

    An absolute URL (``scheme:...``) without control characters or spaces
    and not of a scheme the browser would execute (``javascript:``,
    ``data:``, ``vbscript:``, ``file:``). Non-ASCII characters are
    percent-encoded (UTF-8) so the text is a valid ``Location`` header.
    """
    text = text.strip()
    if not text or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        return None
    scheme, sep, _ = text.partition(":")
    if not sep or not scheme or not scheme[0].isalpha() or not all(c.isalnum() or c in "+-." for c in scheme):
        return None
    if not scheme.isascii() or scheme.lower() in _UNSAFE_SCHEMES:
        return None
    return urllib.parse.quote(text, safe="!#$%&'()*+,-./:;=?@[]_~") if not text.isascii() else text


def first_url(values: Iterable[Value]) -> str | None:
    """The redirect target of a record: the lowest-index ``URL`` or ``URL.*`` string value that is a safe URL.

    Only the values given are considered (the caller passes the public ones).
    """
    for value in sorted(values, key=lambda v: v.index):
        if value.format != "string" or not (value.type == "URL" or value.type.startswith("URL.")):
            continue
        url = safe_url(value.text)
        if url is not None:
            return url
    return None


def prefers_json(accept: str) -> bool:
    """True when an ``Accept`` header ranks ``application/json`` above ``text/html``.

    Exact types count before wildcards (``application/*``, ``text/*``,
    ``*/*``); a tie, an empty header or ``*/*`` gives HTML, as the public
    Handle proxy answers people by default.
    """
    exact: dict[str, float] = {}
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            key, _, raw = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(raw.strip())
                except ValueError:
                    q = 0.0
        exact[media] = max(q, exact.get(media, 0.0))

    def quality(media: str, *fallbacks: str) -> float:
        for name in (media, *fallbacks):
            if name in exact:
                return exact[name]
        return 0.0

    json_q = quality("application/json", "application/*", "*/*")
    html_q = max(quality("text/html", "text/*", "*/*"), exact.get("application/xhtml+xml", 0.0))
    return json_q > html_q


def gtin_of_path(text: str) -> str:
    """The GTIN-14 of a Digital Link ``01`` path segment (8, 12, 13 or 14 digits, valid check digit).

    Raises:
        DigitalLinkError: anything else.
    """
    found = gs1.gtin14(text)
    if found is None:
        raise DigitalLinkError(f"{text!r} is not a GTIN: 8, 12, 13 or 14 digits with a valid GS1 check digit expected")
    return found


def matching_gtin_values(values: Iterable[Value], gtin14: str) -> list[Value]:
    """The GTIN and SGTIN string values among ``values`` that the GTIN index files under ``gtin14``."""
    return [v for v in values if v.type in _GTIN_TYPES and v.format == "string" and gs1.index_gtin14(v.text) == gtin14]


def _sgtin_serial(text: str) -> str | None:
    """The serial of an SGTIN spelling that :func:`gs1.sgtin_gtin14` accepts (percent-escapes undone)."""
    if text[:17].lower() == "urn:epc:id:sgtin:":
        parts = text[17:].split(".", 2)
        return urllib.parse.unquote(parts[2]) if len(parts) == 3 else None
    if text.startswith("(01)"):
        return text.partition("(21)")[2]
    if text.startswith("01"):
        return text[18:]
    path = urllib.parse.urlsplit(text).path if "://" in text else text.split("?", 1)[0].split("#", 1)[0]
    return urllib.parse.unquote(path.rsplit("/", 1)[-1]) if "/21/" in path else None


def serial_matches(values: Iterable[Value], gtin14: str, serial: str) -> bool:
    """True when a value among ``values`` is an SGTIN of ``gtin14`` with exactly this serial."""
    for value in matching_gtin_values(values, gtin14):
        if (
            value.type in _SGTIN_TYPES
            and gs1.sgtin_gtin14(value.text) == gtin14
            and _sgtin_serial(value.text) == serial
        ):
            return True
    return False
