"""Unified social credit codes (统一社会信用代码, GB 32100-2015): check character and validation.

An enterprise passes real-name review by its 18-character code (DOMAIN.md
section 5). Only the alphabet and the check character are verified here;
the meaning of the registration-authority, type and region fields is not.
"""

from __future__ import annotations

from idnode.registry.errors import InvalidValue

__all__ = ["ALPHABET", "CODE_LENGTH", "WEIGHTS", "check_character", "validate_credit_code"]

# 31 symbols: digits and upper-case letters without I, O, S, V, Z.
# A symbol's value is its position.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
CODE_LENGTH = 18
_VALUE = {char: value for value, char in enumerate(ALPHABET)}


def _first_bad(text: str) -> int:
    """Position of the first character outside the alphabet, or -1."""
    for position, char in enumerate(text):
        if char not in _VALUE:
            return position
    return -1


def check_character(first17: str) -> str:
    """The check character (the 18th) for the first 17 characters of a code.

    Args:
        first17: exactly 17 characters of :data:`ALPHABET` (upper case).

    Returns:
        One character of :data:`ALPHABET`:
        ``ALPHABET[(31 - sum(value * weight) % 31) % 31]``.

    Raises:
        InvalidValue (202): not 17 characters, or a character outside the
        alphabet (the message gives its 0-based position).
    """
    if not isinstance(first17, str) or len(first17) != len(WEIGHTS):
        got = len(first17) if isinstance(first17, str) else type(first17).__name__
        raise InvalidValue(f"credit code body must be {len(WEIGHTS)} characters, got {got}")
    bad = _first_bad(first17)
    if bad >= 0:
        raise InvalidValue(f"credit code body: character {first17[bad]!r} not allowed at position {bad}")
    total = sum(_VALUE[char] * weight for char, weight in zip(first17, WEIGHTS, strict=False))
    return ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(text: str) -> str:
    """Validate a unified social credit code and return its canonical form.

    Surrounding whitespace is stripped and letters are upper-cased first, so
    lower-case input is accepted when otherwise valid.

    Args:
        text: the code as entered.

    Returns:
        The 18-character upper-case code.

    Raises:
        InvalidValue (202): not text; the wrong length (the message gives
        it); a character outside the alphabet (the message gives the
        character and its 0-based position in the stripped code); a wrong
        check character (the message gives the expected and the received
        one).
    """
    if not isinstance(text, str):
        raise InvalidValue(f"credit code must be text, got {type(text).__name__}")
    code = text.strip().upper()
    if len(code) != CODE_LENGTH:
        raise InvalidValue(f"credit code must be {CODE_LENGTH} characters, got {len(code)}")
    bad = _first_bad(code)
    if bad >= 0:
        raise InvalidValue(f"credit code {code!r}: character {code[bad]!r} not allowed at position {bad}")
    expected = check_character(code[:17])
    if code[17] != expected:
        raise InvalidValue(f"credit code {code!r}: check character should be {expected!r}, got {code[17]!r}")
    return code
