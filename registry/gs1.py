"""GS1 keys: the GTIN check digit and the GTIN-14 of GTIN and SGTIN texts.

Pure functions, no I/O. The secondary index ``idx_gtin`` keys every GTIN and
SGTIN value by the GTIN-14 these functions derive (:func:`index_gtin14`), so
one GTIN is found whatever length or SGTIN spelling a value or a query uses,
and a GS1 ONS name (which maps to a GTIN-14) finds its identifiers.
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = [
    "gtin14",
    "gtin_check_digit",
    "gtin_valid",
    "index_gtin14",
    "sgtin_gtin14",
]

_GTIN_LENGTHS = frozenset({8, 12, 13, 14})
# GS1 AI (21) serial: 1 to 20 characters of GS1 AI encodable character set 82.
_SERIAL = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}", re.ASCII)
_ELEMENT_PARENS = re.compile(r"\(01\)([0-9]{14})\(21\)(.+)", re.ASCII | re.DOTALL)
_ELEMENT_PLAIN = re.compile(r"01([0-9]{14})21(.+)", re.ASCII | re.DOTALL)
# The primary key closes the Digital Link path; a custom path may come before it.
_DIGITAL_LINK_PATH = re.compile(r"(?:.*/)?01/([0-9]{8}|[0-9]{12,14})/21/([^/]+)", re.ASCII | re.DOTALL)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})", re.ASCII)
_EPC_SGTIN = "urn:epc:id:sgtin:"
_EPC_BODY = re.compile(r"([0-9]{1,12})\.([0-9]{1,12})\.(.+)", re.ASCII | re.DOTALL)


def gtin_check_digit(body: str) -> str:
    """The GS1 mod-10 check digit of a GTIN body (all its digits but the last).

    From the rightmost body digit leftwards, weights alternate 3, 1, 3, ...;
    the check digit brings the weighted sum to a multiple of 10.
    """
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def gtin_valid(digits: str) -> bool:
    """True for a GTIN-8, -12, -13 or -14 whose last digit is the GS1 mod-10 check digit.

    From the digit left of the check digit leftwards, weights alternate 3, 1,
    3, ...; the check digit brings the weighted sum to a multiple of 10.
    Anything that is not 8, 12, 13 or 14 ASCII digits is False.
    """
    if not isinstance(digits, str) or len(digits) not in _GTIN_LENGTHS or not (digits.isascii() and digits.isdigit()):
        return False
    return gtin_check_digit(digits[:-1]) == digits[-1]


def gtin14(text: str) -> str | None:
    """The GTIN-14 of a GTIN-8, -12, -13 or -14: zero-padded on the left, check digit kept.

    ``"614141322602"`` -> ``"00614141322602"``. The text must be exactly the
    digits (no spaces, no other characters) with a valid check digit.

    Returns:
        14 ASCII digits, or None for anything that is not a valid GTIN.
    """
    return text.zfill(14) if gtin_valid(text) else None


def _serial_ok(serial: str) -> bool:
    return _SERIAL.fullmatch(serial) is not None


def _unescaped_serial_ok(serial: str) -> bool:
    # URIs percent-escape some serial characters: every '%' must start an
    # escape, and the unescaped serial must be CSET 82 (which has '%' itself).
    if _BAD_ESCAPE.search(serial):
        return False
    try:
        return _serial_ok(urllib.parse.unquote(serial, errors="strict"))
    except UnicodeDecodeError:
        return False


def _epc_sgtin(body: str) -> str | None:
    match = _EPC_BODY.fullmatch(body)
    if match is None:
        return None
    company, indicator_item, serial = match.groups()
    if len(company) + len(indicator_item) != 13 or not _unescaped_serial_ok(serial):
        return None
    # TDS: urn:epc:id:sgtin:d2..d(L+1).d1 d(L+2)..d13.serial -> (01)d1..d14,
    # the indicator digit moving to the front and the check digit computed.
    digits = indicator_item[0] + company + indicator_item[1:]
    return digits + gtin_check_digit(digits)


def _digital_link(text: str) -> str | None:
    lowered = text[:8].lower()
    if lowered.startswith(("http://", "https://")):
        try:
            path = urllib.parse.urlsplit(text).path
        except ValueError:
            return None
    elif text.startswith("/"):
        path = re.split(r"[?#]", text, maxsplit=1)[0]
    else:
        return None
    match = _DIGITAL_LINK_PATH.fullmatch(path)
    if match is None or not _unescaped_serial_ok(match.group(2)):
        return None
    return gtin14(match.group(1))


def sgtin_gtin14(text: str) -> str | None:
    """The GTIN-14 inside an SGTIN (a GTIN plus a serial), in one of its common spellings.

    Accepted spellings (serial: 1 to 20 characters of GS1 character set 82,
    percent-escaped in URIs):

    - GS1 element string with parentheses: ``(01)00614141322602(21)6789``
    - the same without parentheses: ``0100614141322602216789``
    - GS1 Digital Link URI (``http(s)://host/...`` or just its path), the
      primary key closing the path: ``https://id.gs1.org/01/614141322602/21/6789``;
      the GTIN there may have 8, 12, 13 or 14 digits
    - EPC pure-identity URN ``urn:epc:id:sgtin:0614141.032260.6789``
      (company prefix, then indicator digit and item reference, 13 digits in
      all; the GTIN-14 is the indicator digit, the company prefix, the item
      reference and a computed check digit, per the EPC Tag Data Standard)

    Returns:
        The GTIN-14, or None when the text is none of these or the GTIN in it
        has a wrong check digit.
    """
    if not isinstance(text, str) or not text.isascii():
        return None
    if text[:17].lower() == _EPC_SGTIN:
        return _epc_sgtin(text[17:])
    if text.startswith("("):
        match = _ELEMENT_PARENS.fullmatch(text)
    elif text.startswith("01"):
        match = _ELEMENT_PLAIN.fullmatch(text)
    else:
        return _digital_link(text)
    if match is None or not _serial_ok(match.group(2)):
        return None
    return gtin14(match.group(1))


def index_gtin14(text: str) -> str | None:
    """The GTIN-14 a GTIN or SGTIN value (or query) is indexed under, or None.

    A GTIN of any length first (:func:`gtin14`), then an SGTIN spelling
    (:func:`sgtin_gtin14`); None means the raw text is the index key.
    """
    if not isinstance(text, str):
        return None
    return gtin14(text) or sgtin_gtin14(text)
