"""Unified social credit code check character and validation."""

from __future__ import annotations

import pytest

from idnode.registry.errors import InvalidValue
from idnode.registry.uscc import ALPHABET, WEIGHTS, check_character, validate_credit_code


def _by_hand(first17: str) -> str:
    """The GB 32100-2015 formula written out independently of the module."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = 0
    for i in range(17):
        total += alphabet.index(first17[i]) * weights[i]
    return alphabet[(31 - total % 31) % 31]


VALID = [
    "914403001922038216",  # DOMAIN.md's example
    "9144030071526726XG",
    "91330100799655058B",
    "91110108551385082Q",
    "91310000MA1FL2YX5W",
    "91110000MA01ABCD1M",  # computed: body chosen here, check character by hand below
    "121000004000103938",  # computed, digits only
]


def test_alphabet_and_weights():
    assert len(ALPHABET) == 31
    assert not set("IOSVZ") & set(ALPHABET)
    assert len(WEIGHTS) == 17
    # Each weight is 3**i mod 31.
    assert list(WEIGHTS) == [pow(3, i, 31) for i in range(17)]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes(code):
    assert validate_credit_code(code) == code
    assert check_character(code[:17]) == code[17] == _by_hand(code[:17])


def test_computed_example():
    assert _by_hand("91110000MA01ABCD1") == "M"
    assert check_character("91110000MA01ABCD1") == "M"


def test_check_value_zero_maps_to_zero():
    # sum % 31 == 0 must give '0', not ALPHABET[31].
    assert check_character("0" * 17) == "0"
    assert validate_credit_code("0" * 18) == "0" * 18


@pytest.mark.parametrize(
    "text, expected",
    [
        ("91330100799655058b", "91330100799655058B"),
        ("9144030071526726xg", "9144030071526726XG"),
        ("  914403001922038216\n", "914403001922038216"),
        ("\t91310000ma1fl2yx5w ", "91310000MA1FL2YX5W"),
    ],
)
def test_normalised(text, expected):
    assert validate_credit_code(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "credit code must be 18 characters, got 0"),
        ("91440300192203821", "credit code must be 18 characters, got 17"),
        ("9144030019220382160", "credit code must be 18 characters, got 19"),
        ("9144 3001922038216", "character ' ' not allowed at position 4"),
        ("I14403001922038216", "character 'I' not allowed at position 0"),
        ("914403001922038O16", "character 'O' not allowed at position 15"),
        ("91440300192203821Z", "character 'Z' not allowed at position 17"),
        ("91440300-922038216", "character '-' not allowed at position 8"),
        ("914403001922038217", "check character should be '6', got '7'"),
        ("9144030071526726XH", "check character should be 'G', got 'H'"),
    ],
)
def test_invalid(text, message):
    with pytest.raises(InvalidValue) as info:
        validate_credit_code(text)
    assert info.value.code == 202
    assert message in info.value.message


def test_not_text():
    with pytest.raises(InvalidValue, match="must be text, got int"):
        validate_credit_code(914403001922038216)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body, message",
    [
        ("9144030019220382", "must be 17 characters, got 16"),
        ("91440300192203821a", "must be 17 characters, got 18"),
        ("91440300192203o21", "character 'o' not allowed at position 14"),
    ],
)
def test_check_character_rejects(body, message):
    with pytest.raises(InvalidValue, match=message):
        check_character(body)


def test_every_single_substitution_is_caught():
    # The weights are non-zero mod 31 (a prime), so changing any one
    # character of a valid code changes its checksum.
    code = "914403001922038216"
    for position in range(18):
        for char in ALPHABET:
            if char == code[position]:
                continue
            mutated = code[:position] + char + code[position + 1 :]
            with pytest.raises(InvalidValue):
                validate_credit_code(mutated)
