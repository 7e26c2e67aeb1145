"""Identifier, GTIN and OID <-> DNS names (resolver/dns/names.py) and `idnode dnsname`."""

from __future__ import annotations

import base64
import contextlib

import dns.name
import pytest
from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st

from idnode._fastpath import normalise_handle
from idnode.cli import main
from idnode.registry.errors import InvalidHandle
from idnode.resolver.dns import names
from idnode.resolver.dns.names import (
    APEX,
    GTIN,
    HANDLE,
    OID,
    OTHER,
    InvalidKey,
    MalformedName,
    NameInfo,
    NameTooLong,
    NotAnIdentifierName,
    OutsideZone,
    UnsupportedPrefix,
    classify_name,
    gtin_to_name,
    handle_to_labels,
    handle_to_name,
    max_suffix_bytes,
    name_to_gtin,
    name_to_handle,
    name_to_oid,
    oid_to_name,
    text_to_labels,
)

# The longest suffixes that fit under 88.118.8 in id.local.: 143 UTF-8 bytes.
LONGEST = "88.118.8/" + "A" * 143
LONGEST_CJK = "88.118.8/" + "批" * 47  # 141 bytes
B32_63 = "850k2ga1" * 7 + "850k2ga"  # the first 63 base32hex characters of "A" * 40

# (handle as given, zone, name); the reverse gives normalise_handle(handle).
HANDLES = [
    ("88.118.8/DEMO-000001", "id.local.", "8h2kqjpd60o30c1g64._h.8.118.88.id.local."),
    ("88.118.8/demo-000001", "id.local.", "chimqrpd60o30c1g64._h.8.118.88.id.local."),  # case is kept
    ("88.118.8/JXDY2106023", "id.local.", "99c48m9i64o3cc1i6c._h.8.118.88.id.local."),
    ("88.118.8/Motor.2106/批次 01", "id.local.", "9lnn8rri5op32c1m5vj8jef6ligi0c1h._h.8.118.88.id.local."),
    ("88.118.8/a.b/c d_e-f", "id.local.", "c4n64br341i5up9dco._h.8.118.88.id.local."),
    ("20.500.ABC/x", "id.local.", "f0._h.abc.500.20.id.local."),  # the prefix folds
    ("0.NA/88.118", "id.local", "70s2sc9h70._h.na.0.id.local."),
    ("88.1/e\u0301", "id.local.", "oekg._h.1.88.id.local."),  # NFC first
    ("88.101.0042/x", "Example.ORG.", "f0._h.0042.101.88.example.org."),
    ("88.1/x", ".", "f0._h.1.88."),
    # 40 bytes take 64 base32hex characters: the first 63 next to the marker, the rest to the left
    ("88.118.8/" + "A" * 40, "id.local.", f"1.{B32_63}._h.8.118.88.id.local."),
]


@pytest.mark.parametrize("handle, zone, name", HANDLES)
def test_handle_to_name(handle, zone, name):
    assert handle_to_name(handle, zone) == name
    assert handle_to_labels(handle, zone) == text_to_labels(name)


@pytest.mark.parametrize("handle, zone, name", HANDLES)
def test_name_to_handle(handle, zone, name):
    expected = normalise_handle(handle)
    assert name_to_handle(name, zone) == expected
    assert name_to_handle(name.upper(), zone.upper()) == expected  # DNS ignores case
    assert name_to_handle(name.rstrip("."), zone) == expected  # a trailing dot is optional
    assert name_to_handle(text_to_labels(name), text_to_labels(zone)) == expected  # labels, as the server has them
    assert classify_name(name, zone) == NameInfo(HANDLE, expected)


def test_suffix_labels_are_base32hex():
    """The suffix encoding is RFC 4648 base32hex (what `printf %s SUFFIX | basenc --base32hex` prints)."""
    assert base64.b32hexencode(b"DEMO-000001") == b"8H2KQJPD60O30C1G64======"


def test_longest_handles_that_fit():
    for handle in (LONGEST, LONGEST_CJK):
        name = handle_to_name(handle)
        assert len(dns.name.from_text(name).to_wire()) <= 255
        assert name_to_handle(name) == handle
    assert len(dns.name.from_text(handle_to_name(LONGEST)).to_wire()) == 255
    assert max_suffix_bytes("88.118.8") == 143
    assert max_suffix_bytes("88.118.8", "a.much.longer.zone.example.") == 131


@pytest.mark.parametrize(
    "handle, error, fragment",
    [
        (LONGEST + "A", NameTooLong, "needs 257 octets, at most 255 (the suffix has 144 UTF-8 bytes;"),
        (LONGEST + "A", NameTooLong, "at most 143 fit"),
        (LONGEST_CJK + "批", NameTooLong, "the suffix has 144 UTF-8 bytes"),
        ("8" * 64 + "/x", NameTooLong, "prefix segment of 64 characters, a DNS label holds at most 63"),
        ("88.a*b/x", UnsupportedPrefix, "prefix segment 'a*b' cannot be a DNS label"),
        ("88.中/x", UnsupportedPrefix, "prefix segment '中' cannot be a DNS label"),
        ("88._h/x", UnsupportedPrefix, "prefix segment '_h' is the DNS name marker"),
        ("gtin.1/x", UnsupportedPrefix, "may not start with 'gtin'"),
        ("OID/x", UnsupportedPrefix, "may not start with 'oid'"),
        ("nohandle", InvalidHandle, "no '/' between prefix and suffix"),
        ("88.1/", InvalidHandle, "empty suffix"),
        ("88.1/a\x07", InvalidHandle, "control character"),
    ],
)
def test_handle_that_cannot_be_mapped(handle, error, fragment):
    with pytest.raises(error) as info:
        handle_to_name(handle)
    assert fragment in info.value.message


def test_longer_zone_leaves_less_room():
    handle = "88.118.8/" + "A" * 131  # exactly the most that fits
    assert handle_to_name(handle, "a.much.longer.zone.example.").endswith(".a.much.longer.zone.example.")
    with pytest.raises(NameTooLong, match="at most 131 fit"):
        handle_to_name(handle + "A", "a.much.longer.zone.example.")


@pytest.mark.parametrize("zone", ["bad zone.", "a..b", "ex*ample.", "é.cn", "back\\slash", "", "x" * 64, 42])
def test_malformed_zone(zone):
    with pytest.raises(MalformedName):
        handle_to_name("88.1/x", zone)


@pytest.mark.parametrize(
    "name",
    ["example.com.", "local.", "id.local.example.", "xid.local.", "f0._h.1.88.id.locale.", ".", "id"],
)
def test_outside_the_zone(name):
    with pytest.raises(OutsideZone, match="is not under the zone id.local."):
        name_to_handle(name)
    with pytest.raises(OutsideZone):
        classify_name(name)


@pytest.mark.parametrize(
    "name, info, fragment",
    [
        ("id.local.", NameInfo(APEX, None), "is the zone apex, not an identifier name"),
        ("88.id.local.", NameInfo(OTHER, None), "is a name under the zone, not"),
        ("8.118.88.id.local.", NameInfo(OTHER, None), "is a name under the zone"),
        ("_h.8.118.88.id.local.", NameInfo(OTHER, None), "is a name under the zone"),
        ("ns1.id.local.", NameInfo(OTHER, None), "is a name under the zone"),
        ("gtin.id.local.", NameInfo(OTHER, None), "is a name under the zone"),
        ("6.0.gtin.id.local.", NameInfo(OTHER, None), "is a name under the zone"),
        ("oid.id.local.", NameInfo(OTHER, None), "is a name under the zone"),
        ("0.0.6.2.2.3.1.4.1.4.1.6.0.gtin.id.local.", NameInfo(GTIN, "00614141322602"), "(00614141322602)"),
        ("1.102.101818.156.16.2.oid.id.local.", NameInfo(OID, "2.16.156.101818.102.1"), "(2.16.156.101818.102.1)"),
    ],
)
def test_names_under_the_zone_that_are_not_identifiers(name, info, fragment):
    assert classify_name(name) == info
    with pytest.raises(NotAnIdentifierName) as exc:
        name_to_handle(name)
    assert fragment in exc.value.message


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("w0._h.1.88.id.local.", "the suffix labels are not base32hex"),  # 'w' is outside 0-9a-v
        ("f-0._h.1.88.id.local.", "the suffix labels are not base32hex"),
        ("f._h.1.88.id.local.", "1 base32hex characters cannot encode whole bytes"),
        ("f1._h.1.88.id.local.", "not canonical base32hex"),  # 'x' with a stray low bit
        (f"f0.{B32_63[:62]}._h.1.88.id.local.", "suffix label 2 from the left is not 63 characters"),
        ("vs._h.1.88.id.local.", "the suffix is not UTF-8"),  # b"\xff"
        ("c43g._h.1.88.id.local.", "control character U+0007"),  # "a\x07"
        ("cn682._h.1.88.id.local.", "not in Unicode NFC"),  # "e\u0301"
        ("f0._h.id.local.", "no prefix labels between"),
        ("f0._h._h.88.id.local.", "_h is not a prefix segment"),
        ("f0._h.x\\042y.88.id.local.", "escapes are not supported"),
        ("f0._h.gtin.id.local.", "no identifier prefix starts with 'gtin'"),
        ("f0._h.1.oid.id.local.", "no identifier prefix starts with 'oid'"),
        ("f0._h." + "8." * 33 + "id.local.", "prefix of 65 characters, at most 64"),
        ("a.gtin.id.local.", "up to 13 single-digit labels"),
        ("12.gtin.id.local.", "up to 13 single-digit labels"),
        ("1." * 14 + "gtin.id.local.", "up to 13 single-digit labels"),
        ("01.2.oid.id.local.", "without leading zeros"),
        ("1.3.oid.id.local.", "the first arc is 0, 1 or 2"),
        ("40.1.oid.id.local.", "the second arc is at most 39"),
        ("a..id.local.", "has an empty label"),
        ("x" * 64 + ".id.local.", "label of 64 octets"),
        ("a." * 127 + "id.local.", "octets long, at most 255"),
        ("é.id.local.", "is not ASCII"),
    ],
)
def test_malformed_names(name, fragment):
    with pytest.raises(MalformedName) as info:
        name_to_handle(name)
    assert fragment in info.value.message


@pytest.mark.parametrize("name", [b"f0._h.1.88.id.local.", None, 42, ["pa", "_h"], [b"pa", 3]])
def test_names_of_the_wrong_type(name):
    with pytest.raises(MalformedName):
        name_to_handle(name)


# -- GTIN and OID -------------------------------------------------------------------

GTINS = [  # (as given, GTIN-14, name)
    ("00614141322602", "00614141322602", "0.0.6.2.2.3.1.4.1.4.1.6.0.gtin.id.local."),  # DOMAIN.md section 6
    ("0614141322602", "00614141322602", "0.0.6.2.2.3.1.4.1.4.1.6.0.gtin.id.local."),  # GTIN-13
    ("614141322602", "00614141322602", "0.0.6.2.2.3.1.4.1.4.1.6.0.gtin.id.local."),  # GTIN-12 (UPC-A)
    ("10614141322609", "10614141322609", "1.0.6.2.2.3.1.4.1.4.1.6.0.gtin.id.local."),  # indicator digit first
    ("4006381333931", "04006381333931", "0.3.9.3.3.3.1.8.3.6.0.0.4.gtin.id.local."),  # GTIN-13
    ("96385074", "00000096385074", "0.7.0.5.8.3.6.9.0.0.0.0.0.gtin.id.local."),  # GTIN-8
]


@pytest.mark.parametrize("gtin, gtin14, name", GTINS)
def test_gtin_names(gtin, gtin14, name):
    assert gtin_to_name(gtin) == name
    assert name_to_gtin(name) == gtin14
    assert name_to_gtin(name.upper()) == gtin14
    assert gtin_to_name(gtin, "ons.example") == name.replace("id.local.", "ons.example.")


@pytest.mark.parametrize(
    "gtin, fragment",
    [
        ("00614141322603", "check digit 3, expected 2"),
        ("0061414132260", "check digit 0, expected 8"),
        ("1234567", "expected 8, 12, 13 or 14 digits"),
        ("006141413226020", "expected 8, 12, 13 or 14 digits"),
        ("0061414132260x", "expected 8, 12, 13 or 14 digits"),
        ("٠٠٦١٤١٤١٣٢٢٦٠٢", "expected 8, 12, 13 or 14 digits"),  # non-ASCII digits
        (614141322602, "expected 8, 12, 13 or 14 digits"),
    ],
)
def test_invalid_gtins(gtin, fragment):
    with pytest.raises(InvalidKey) as info:
        gtin_to_name(gtin)
    assert fragment in info.value.message


OIDS = [
    ("2.16.156.101818.102.1", "1.102.101818.156.16.2.oid.id.local."),  # DOMAIN.md section 6
    ("1.2.156", "156.2.1.oid.id.local."),  # China's arc
    ("2.999.0", "0.999.2.oid.id.local."),
    ("0", "0.oid.id.local."),
]


@pytest.mark.parametrize("oid, name", OIDS)
def test_oid_names(oid, name):
    assert oid_to_name(oid) == name
    assert name_to_oid(name) == oid
    assert name_to_oid(name.upper()) == oid


@pytest.mark.parametrize(
    "oid, error",
    [
        ("", InvalidKey),
        ("3.1", InvalidKey),
        ("1.40", InvalidKey),
        ("2.016", InvalidKey),
        ("2..1", InvalidKey),
        ("2.a", InvalidKey),
        ("2.１", InvalidKey),
        (None, InvalidKey),
        ("2." + "9" * 64, NameTooLong),
        ("2" + ".1" * 120, NameTooLong),
    ],
)
def test_invalid_oids(oid, error):
    with pytest.raises(error):
        oid_to_name(oid)


def test_gtin_and_oid_names_are_not_handles_and_back():
    with pytest.raises(NotAnIdentifierName, match="is not a GTIN name"):
        name_to_gtin("8h2kqjpd60o30c1g64._h.8.118.88.id.local.")
    with pytest.raises(NotAnIdentifierName, match="is not an OID name"):
        name_to_oid("0.0.6.2.2.3.1.4.1.4.1.6.0.gtin.id.local.")


# -- properties ---------------------------------------------------------------------

prefix_segments = st.text("0123456789abcXYZ-_", min_size=1, max_size=8).filter(lambda s: s.lower() != "_h")
prefixes = (
    st.lists(prefix_segments, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda p: p.split(".")[0].lower() not in ("gtin", "oid"))
)
suffix_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=60)
suffixes = suffix_text | st.text("aA.-_/ 批次é", min_size=1, max_size=150)
zones = st.sampled_from(["id.local.", "ID.Local", "a.b.c.example.", "."])


@given(prefixes, suffixes, zones)
def test_round_trip(prefix, suffix, zone):
    handle = prefix + "/" + suffix
    try:
        name = handle_to_name(handle, zone)
    except NameTooLong:
        assume(False)
        return
    wire = dns.name.from_text(name).to_wire()  # dnspython accepts it: labels <= 63, name <= 255
    assert len(wire) <= 255
    assert name == name.lower()
    expected = normalise_handle(handle)
    assert name_to_handle(name, zone) == expected
    assert name_to_handle(name.upper(), zone) == expected


@given(prefixes, suffixes, st.randoms(use_true_random=False))
def test_any_case_decodes_the_same(prefix, suffix, rnd):
    handle = prefix + "/" + suffix
    try:
        labels = handle_to_labels(handle)
    except NameTooLong:
        assume(False)
        return
    mixed = tuple(bytes(b ^ 0x20 if chr(b).isalpha() and rnd.random() < 0.5 else b for b in label) for label in labels)
    assert name_to_handle(mixed) == normalise_handle(handle)  # resolvers randomise case (0x20 bits)


base32_labels = st.text("0123456789abcdefghijklmnopqrstuv", min_size=1, max_size=63).map(str.encode)
label_soup = st.sampled_from([b"_h", b"88", b"1", b"gtin", b"oid", b"id", b"local", b"0", b"x"]) | base32_labels


@given(st.lists(label_soup, max_size=12), st.lists(base32_labels, max_size=4))
def test_a_decoded_name_is_the_only_name_of_its_handle(head, pieces):
    """Whatever decodes, encodes back to the same name: one name per handle, one handle per name."""
    name = (*pieces, *head, b"id", b"local")
    try:
        info = classify_name(name)
    except names.DnsNameError as exc:
        assert not isinstance(exc, OutsideZone)
        return
    if info.kind == HANDLE:
        assert handle_to_labels(info.value) == name
    elif info.kind == GTIN:
        assert text_to_labels(gtin_to_name(info.value)) == name
    elif info.kind == OID:
        assert text_to_labels(oid_to_name(info.value)) == name


sortable_suffixes = st.text("aAb0~é批", min_size=1, max_size=100) | st.text(min_size=1, max_size=40)


@given(st.lists(sortable_suffixes.map(str.encode), min_size=2, max_size=8, unique=True))
def test_names_sort_like_suffixes(suffixes):
    """DNSSEC canonical order of the names under a prefix is the byte order of the suffixes (the key order)."""
    valid = sorted(raw for raw in suffixes if _fits(raw))
    by_name = sorted(valid, key=lambda raw: dns.name.from_text(handle_to_name("88.1/" + raw.decode())))
    assert by_name == valid


def _fits(raw: bytes) -> bool:
    try:
        text = "88.1/" + raw.decode()
        handle_to_name(text)
    except (UnicodeDecodeError, InvalidHandle, NameTooLong):
        return False
    return normalise_handle(text) == text


@given(st.text(max_size=300))
def test_any_text_maps_or_fails_typed(text):
    with contextlib.suppress(InvalidHandle, names.DnsNameError):
        handle_to_name(text)
    with contextlib.suppress(names.DnsNameError):
        name_to_handle(text)


# -- the command line ---------------------------------------------------------------


def _run(*args):
    return CliRunner().invoke(main, ["dnsname", *args])


def test_cli_forward_and_reverse():
    result = _run("88.118.8/DEMO-000001")
    assert (result.exit_code, result.stdout) == (0, "8h2kqjpd60o30c1g64._h.8.118.88.id.local.\n")
    result = _run("--reverse", "8H2KQJPD60O30C1G64._H.8.118.88.ID.LOCAL")
    assert (result.exit_code, result.stdout) == (0, "88.118.8/DEMO-000001\n")
    result = _run("--zone", "example.org", "88.118.8/DEMO-000001")
    assert result.stdout == "8h2kqjpd60o30c1g64._h.8.118.88.example.org.\n"
    assert _run("--reverse", "--zone", "example.org", result.stdout.strip()).stdout == "88.118.8/DEMO-000001\n"


def test_cli_gtin_and_oid():
    assert _run("--gtin", "614141322602").stdout == "0.0.6.2.2.3.1.4.1.4.1.6.0.gtin.id.local.\n"
    assert _run("--reverse", "--gtin", "0.0.6.2.2.3.1.4.1.4.1.6.0.gtin.id.local").stdout == "00614141322602\n"
    assert _run("--oid", "2.16.156.101818.102.1").stdout == "1.102.101818.156.16.2.oid.id.local.\n"
    assert _run("--reverse", "--oid", "156.2.1.oid.id.local.").stdout == "1.2.156\n"


@pytest.mark.parametrize(
    "args, message",
    [
        ((LONGEST + "A",), "error: handle '88.118.8/AAAA"),
        (("88.a*b/x",), "error: handle '88.a*b/x': prefix segment 'a*b' cannot be a DNS label"),
        (("nohandle",), "error: 102 invalid handle 'nohandle': no '/' between prefix and suffix"),
        (("--reverse", "www.example.com"), "error: www.example.com. is not under the zone id.local."),
        (("--reverse", "0.oid.id.local"), "error: 0.oid.id.local. is an OID name (0), not an identifier name"),
        (("--reverse", "vs._h.1.88.id.local."), "error: vs._h.1.88.id.local.: the suffix is not UTF-8"),
        (("--gtin", "123"), "error: invalid GTIN '123'"),
        (("--zone", "bad zone", "88.1/x"), "error: zone 'bad zone': its labels may hold only a-z"),
    ],
)
def test_cli_errors(args, message):
    result = _run(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
