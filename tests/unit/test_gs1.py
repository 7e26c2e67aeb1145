"""GS1 keys: GTIN-14 of GTINs of every length and of SGTINs in their common spellings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.registry import _records, gs1, templates


@pytest.mark.parametrize(
    "text, expected",
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("614141322602", "00614141322602"),  # GTIN-12 (UPC-A)
        ("6950000000019", "06950000000019"),  # GTIN-13 (EAN-13)
        ("00614141322602", "00614141322602"),  # GTIN-14, already padded
        ("10614141322609", "10614141322609"),  # GTIN-14 with an indicator digit
        ("70614141123451", "70614141123451"),
        # wrong check digits
        ("96385075", None),
        ("614141322603", None),
        ("6950000000010", None),
        ("10614141322600", None),
        # not 8, 12, 13 or 14 digits, or not digits at all
        ("", None),
        ("9638507", None),
        ("0096385074", None),  # GTIN-8 padded to 10: no GTIN length
        ("000614141322602", None),  # 15 digits
        (" 614141322602", None),
        ("614141322602 ", None),
        ("61414132260a", None),
        ("６１４１４１３２２６０２", None),  # fullwidth digits are not ASCII
        ("(01)00614141322602", None),  # an element string is not a bare GTIN
    ],
)
def test_gtin14(text, expected):
    assert gs1.gtin14(text) == expected
    assert gs1.index_gtin14(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # GS1 element string, with parentheses
        ("(01)00614141322602(21)6789", "00614141322602"),
        ("(01)70614141123451(21)32a/b", "70614141123451"),
        ("(01)09506000134352(21)ABCDEFGHIJ0123456789", "09506000134352"),  # 20-character serial
        # ... and without
        ("0100614141322602216789", "00614141322602"),
        ("01706141411234512132a/b", "70614141123451"),
        # GS1 Digital Link: any host, custom path before the key, GTIN of any length, query
        ("https://id.gs1.org/01/09506000134352/21/12345", "09506000134352"),
        ("https://example.com/01/614141322602/21/6789", "00614141322602"),
        ("HTTP://Example.com/shop/p/01/6950000000019/21/X1?17=201225#top", "06950000000019"),
        ("https://id.gs1.org/01/96385074/21/1", "00000096385074"),
        ("https://id.gs1.org/01/10614141322609/21/a%2Fb", "10614141322609"),
        ("/01/00614141322602/21/6789", "00614141322602"),  # the path alone
        # EPC pure-identity URN (TDS: company prefix . indicator + item reference . serial)
        ("urn:epc:id:sgtin:0614141.712345.32a%2Fb", "70614141123451"),  # the TDS example
        ("urn:epc:id:sgtin:0614141.032260.6789", "00614141322602"),
        ("urn:epc:id:sgtin:061414132260.0.1", "00614141322602"),  # 12-digit company prefix
        ("urn:epc:id:sgtin:9506000.013435.400", "09506000134352"),
        ("URN:EPC:ID:SGTIN:0614141.712345.1", "70614141123451"),  # the URN prefix is case-insensitive
    ],
)
def test_sgtin_gtin14(text, expected):
    assert gs1.sgtin_gtin14(text) == expected
    assert gs1.index_gtin14(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # wrong check digit in every spelling that carries one
        "(01)00614141322603(21)6789",
        "0100614141322603216789",
        "https://id.gs1.org/01/09506000134353/21/12345",
        "https://id.gs1.org/01/96385075/21/1",
        # no serial, or a serial that is not 1 to 20 CSET 82 characters
        "(01)00614141322602",
        "(01)00614141322602(21)",
        "0100614141322602",
        "010061414132260221",
        "(01)00614141322602(21)123456789012345678901",  # 21 characters
        "(01)00614141322602(21)a b",
        "0100614141322602216789\x1d10ABC",  # further element strings after a group separator
        "https://id.gs1.org/01/09506000134352",
        "https://id.gs1.org/01/09506000134352/21/",
        "https://id.gs1.org/01/09506000134352/21/1/10/ABC",  # the key must close the path
        "https://id.gs1.org/01/09506000134352/21/%zz",
        "https://id.gs1.org/01/09506000134352/21/%FF",  # not UTF-8 once unescaped
        "https://id.gs1.org/01/0950600013435/21/1",  # 13 digits but wrong check digit
        "https://id.gs1.org/01/950600013435211/21/1",  # 15 digits
        "ftp://id.gs1.org/01/09506000134352/21/1",
        "id.gs1.org/01/09506000134352/21/1",
        # EPC URNs that are not SGTINs or not well formed
        "urn:epc:id:sgtin:0614141.71234.1",  # 12 digits in all
        "urn:epc:id:sgtin:0614141.7123456.1",  # 14 digits in all
        "urn:epc:id:sgtin:0614141.712345.",
        "urn:epc:id:sgtin:0614141.712345",
        "urn:epc:id:sgtin:0614141.712345.1%2",
        "urn:epc:id:sgtin:.0614141712345.1",
        "urn:epc:id:sgtin:0614141712345..1",
        "urn:epc:id:sscc:0614141.1234567890",
        "urn:epc:tag:sgtin-96:3.0614141.812345.6789",
        # not SGTINs at all
        "",
        "00614141322602",
        "6950000000019",
        "hello",
        "(01)００６１４１４１３２２６０２(21)1",
    ],
)
def test_sgtin_gtin14_rejects(text):
    assert gs1.sgtin_gtin14(text) is None


def test_non_text_is_none():
    for value in (None, 614141322602, b"614141322602"):
        assert gs1.gtin14(value) is None  # type: ignore[arg-type]
        assert gs1.sgtin_gtin14(value) is None  # type: ignore[arg-type]
        assert gs1.index_gtin14(value) is None  # type: ignore[arg-type]


def test_templates_keeps_the_check_digit_functions():
    assert templates.gtin_check_digit is gs1.gtin_check_digit
    assert templates.gtin_valid is gs1.gtin_valid


@given(
    st.sampled_from((8, 12, 13, 14)).flatmap(lambda n: st.text(alphabet="0123456789", min_size=n - 1, max_size=n - 1))
)
def test_every_gtin_length_and_spelling_gives_one_gtin14(body):
    """A GTIN and its SGTIN spellings all index under the same GTIN-14 (leading zeros add nothing to the sum)."""
    gtin = body + gs1.gtin_check_digit(body)
    g14 = gtin.zfill(14)
    company, item = g14[1:8], g14[8:13]
    spellings = [
        gtin,
        g14,
        f"(01){g14}(21)S1",
        f"01{g14}21S1",
        f"https://id.gs1.org/01/{gtin}/21/S1",
        f"urn:epc:id:sgtin:{company}.{g14[0]}{item}.S1",
    ]
    assert {gs1.index_gtin14(s) for s in spellings} == {g14}
    assert {_records.index_text("idx_gtin", s.encode()) for s in spellings} == {g14.encode()}
    assert gs1.gtin14(body + str((int(gtin[-1]) + 1) % 10)) is None
    assert _records.index_text("idx_oid", gtin.encode()) == gtin.encode()  # OIDs stay raw


@pytest.mark.parametrize(
    "text",
    [b"not a gtin", b"614141322603", "商品".encode(), b"\xff\xfe"],
)
def test_index_text_keeps_raw_text_when_no_gtin14(text):
    assert _records.index_text("idx_gtin", text) == text
