"""The console's languages: the one a request gets (``?lang=``, ``lang`` cookie, Accept-Language) and the catalogs.

Messages are keyed by their English text. Each console area keeps its own
catalog (``MESSAGES = {"English": "中文", ...}``) in its own module and
registers it with :func:`register`, so no helper edits a shared catalog.
``tests/unit/test_console_i18n.py`` checks that every ``_("...")`` of the
console's templates and modules has a Chinese entry.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "DEFAULT",
    "LANGUAGES",
    "choose",
    "conflicts",
    "from_accept_language",
    "register",
    "translate",
    "translations",
]

LANGUAGES = ("en", "zh")  # English is the key language; Chinese is looked up in the catalogs
DEFAULT = "en"  # when nothing in the request asks for a language
_CATALOG: dict[str, str] = {}
_CONFLICTS: list[tuple[str, str, str]] = []


def register(messages: Mapping[str, str]) -> None:
    """Add an area's ``{"English": "中文"}`` entries to the catalog.

    An English key another area registered with a different Chinese text keeps
    the first one and is recorded in :func:`conflicts` (a unit test fails on
    it) rather than stopping the node at import.
    """
    for english, chinese in messages.items():
        known = _CATALOG.get(english)
        if known is not None and known != chinese:
            _CONFLICTS.append((english, known, chinese))
            continue
        _CATALOG[english] = chinese


def conflicts() -> list[tuple[str, str, str]]:
    """``(English, first Chinese, other Chinese)`` of every key two areas registered differently."""
    return list(_CONFLICTS)


def translations() -> Mapping[str, str]:
    """Every registered ``English -> 中文`` entry (read-only view for tests and tools)."""
    return dict(_CATALOG)


def translate(lang: str, text: str, /, **fields: object) -> str:
    """``text`` in ``lang`` (the English key itself when no entry exists), with ``{name}`` fields filled in."""
    if lang == "zh":
        text = _CATALOG.get(text, text)
    return text.format(**fields) if fields else text


def _normalise(tag: str) -> str | None:
    primary = tag.strip().lower().split("-")[0].split("_")[0]
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str) -> str | None:
    """The supported language the ``Accept-Language`` header prefers most (q-values honoured), or None.

    ``zh-CN,zh;q=0.9,en;q=0.8`` gives ``zh``; ``en-US,zh;q=0.5`` gives ``en``; ``fr`` gives None.
    Ties keep the header's order; a malformed q counts as 1, ``q=0`` means "not this one".
    """
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(header.split(",")[:32]):  # a bounded number of entries
        tag, _, params = part.partition(";")
        lang = _normalise(tag)
        if lang is None:
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 1.0
        if quality <= 0:
            continue
        rank = (-quality, position, lang)
        if best is None or rank < best:
            best = rank
    return None if best is None else best[2]


def choose(query_lang: str | None, cookie_lang: str | None, accept_language: str) -> tuple[str, bool]:
    """``(language, from_query)``: ``?lang=`` first, then the ``lang`` cookie, then Accept-Language, else English.

    ``from_query`` is True when ``?lang=`` chose, so the caller sets the cookie and the choice sticks.
    """
    if query_lang and _normalise(query_lang):
        return _normalise(query_lang) or DEFAULT, True
    if cookie_lang and _normalise(cookie_lang):
        return _normalise(cookie_lang) or DEFAULT, False
    return from_accept_language(accept_language) or DEFAULT, False
