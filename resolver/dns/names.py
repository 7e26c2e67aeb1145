"""Identifier, GTIN and OID <-> DNS name mapping under the node's zone (scheme: README.md here).

An identifier ``<prefix>/<suffix>`` becomes::

    <suffix labels> . _h . <prefix segments reversed> . <zone>

The suffix's UTF-8 bytes are written in RFC 4648 base32hex (section 7:
``0-9a-v``), lower case, without padding, cut into 63-character pieces from
the start; the first piece sits next to the ``_h`` marker and each further
piece one label to the left, so a name's ancestors stand for prefixes of the
suffix, as DNS names read from the most specific label on the left. With
that order and base32hex (which keeps the sort order of the bytes, the
reason NSEC3 uses it), the DNS canonical order of the names under a prefix
is the byte order of the suffixes, i.e. the store's key order. Every label
but the leftmost suffix label is 63 characters long, so each identifier has
exactly one name. Base32hex never holds ``_`` and no prefix segment may be
``_h``, so the marker is found from either end.

GS1 keys live under ``gtin.<zone>`` (GS1 ONS 2.0.1 digit order) and OIDs
under ``oid.<zone>`` (arcs reversed, ITU-T X.672); no prefix may start with
the segment ``gtin`` or ``oid``, so the three subtrees never meet.

Every function works on label tuples (``bytes`` labels, as
``idnode._fastpath`` DNS parsing yields them) and accepts text names as well;
zones given as text are parsed once and cached.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Sequence
from typing import NamedTuple

from idnode._fastpath import parse_handle
from idnode.registry.errors import InvalidHandle

__all__ = [
    "APEX",
    "DEFAULT_ZONE",
    "GTIN",
    "GTIN_LABEL",
    "HANDLE",
    "HANDLE_MARKER",
    "OID",
    "OID_LABEL",
    "OTHER",
    "DnsNameError",
    "InvalidKey",
    "Labels",
    "MalformedName",
    "NameInfo",
    "NameTooLong",
    "NotAnIdentifierName",
    "OutsideZone",
    "UnsupportedPrefix",
    "classify_name",
    "gtin_to_labels",
    "gtin_to_name",
    "handle_to_labels",
    "handle_to_name",
    "is_prefix_segment",
    "labels_to_text",
    "max_suffix_bytes",
    "name_to_gtin",
    "name_to_handle",
    "name_to_oid",
    "oid_to_labels",
    "oid_to_name",
    "split_handle_name",
    "text_to_labels",
    "zone_labels",
]

Labels = tuple[bytes, ...]

DEFAULT_ZONE = "id.local."
HANDLE_MARKER = b"_h"
GTIN_LABEL = b"gtin"
OID_LABEL = b"oid"

# What classify_name finds.
APEX = "apex"  # the zone itself
HANDLE = "handle"  # an identifier; value: the normalised handle
GTIN = "gtin"  # value: the GTIN-14
OID = "oid"  # value: the OID in dotted form
OTHER = "other"  # any other name under the zone (e.g. 88.<zone>, gtin.<zone>, ns1.<zone>)

_MAX_NAME_OCTETS = 255
_MAX_LABEL = 63
_SEGMENT = re.compile(rb"[a-z0-9_-]{1,63}")  # a prefix segment or zone label, as a label
_SEGMENT_CHARS = re.compile(rb"[a-z0-9_-]+")
_BASE32HEX = re.compile(rb"[0-9a-v]+")
_ARC = re.compile(rb"0|[1-9][0-9]*")
_TEXT_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*/+=")
_RESERVED_TOP = (GTIN_LABEL, OID_LABEL)
_VALID_B32_TAIL = (0, 2, 4, 5, 7)  # base32hex lengths mod 8 that whole bytes give


# -- errors -------------------------------------------------------------------------


class DnsNameError(ValueError):
    """not a valid DNS name for an identifier"""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class NameTooLong(DnsNameError):
    """the identifier does not fit in a DNS name (labels of at most 63 octets, names of at most 255)"""


class UnsupportedPrefix(DnsNameError):
    """a prefix segment cannot be a DNS label (only a-z, 0-9, '-', '_'; not '_h'; not first 'gtin' or 'oid')"""


class InvalidKey(DnsNameError):
    """not a valid GTIN or OID"""


class OutsideZone(DnsNameError):
    """the name is not under the zone"""


class NotAnIdentifierName(DnsNameError):
    """the name is under the zone but names no identifier"""


class MalformedName(DnsNameError):
    """a malformed DNS name, zone or identifier encoding"""


class NameInfo(NamedTuple):
    """What a name under the zone stands for: ``kind`` (APEX, HANDLE, GTIN, OID, OTHER) and its value."""

    kind: str
    value: str | None


# -- labels and text ----------------------------------------------------------------


def text_to_labels(name: str) -> Labels:
    """The labels of a text name, folded to lower case.

    Args:
        name: ``"a.b.c."`` or ``"a.b.c"`` (both absolute); ``"."`` is the root.
            Plain ASCII labels only: no ``\\`` escapes, no IDNA.

    Returns:
        The labels, lower-cased.

    Raises:
        MalformedName: not text, empty, an empty label, a label over 63 or a
            name over 255 octets, non-ASCII, or a backslash.
    """
    if not isinstance(name, str):
        raise MalformedName(f"expected a text name, got {type(name).__name__}")
    if name == ".":
        return ()
    if not name:
        raise MalformedName("empty name")
    if not name.isascii():
        raise MalformedName(f"name {_show(name)!r} is not ASCII (IDNA is not supported)")
    if "\\" in name:
        raise MalformedName(f"name {_show(name)!r} holds a backslash (escapes are not supported)")
    text = name[:-1] if name.endswith(".") else name
    labels = tuple(text.lower().encode("ascii").split(b"."))
    _check_labels(labels, name)
    return labels


def labels_to_text(labels: Sequence[bytes]) -> str:
    """The absolute text form (trailing dot) of ``labels``; bytes other than
    letters, digits and ``-_*/+=`` are escaped as ``\\DDD``."""
    if not labels:
        return "."
    out = []
    for label in labels:
        if all(byte in _TEXT_SAFE for byte in label):
            out.append(label.decode("ascii"))
        else:
            out.append("".join(chr(b) if b in _TEXT_SAFE else f"\\{b:03d}" for b in label))
    return ".".join(out) + "."


def _check_labels(labels: Sequence[bytes], shown: object) -> None:
    octets = 1
    for label in labels:
        if not label:
            raise MalformedName(f"name {_show(shown)!r} has an empty label")
        if len(label) > _MAX_LABEL:
            raise MalformedName(f"name {_show(shown)!r} has a label of {len(label)} octets, at most 63")
        octets += len(label) + 1
    if octets > _MAX_NAME_OCTETS:
        raise MalformedName(f"name {_show(shown)!r} is {octets} octets long, at most 255")


def _name_labels(name: str | Sequence[bytes]) -> Labels:
    """Lower-cased labels of a text name or of a label sequence (checked)."""
    if isinstance(name, str):
        return text_to_labels(name)
    if isinstance(name, bytes | bytearray):
        raise MalformedName("expected a text name or a sequence of labels, got bytes")
    try:
        labels = tuple([label.lower() for label in name])
    except (TypeError, AttributeError):
        raise MalformedName(f"expected a text name or a sequence of labels, got {type(name).__name__}") from None
    for label in labels:
        if type(label) is not bytes:
            if not isinstance(label, bytes | bytearray):
                raise MalformedName("labels must be bytes")
            labels = tuple([bytes(label) for label in labels])
            break
    _check_labels(labels, _LazyText(labels))
    return labels


class _LazyText:
    """Labels shown as text only when an error message needs them."""

    __slots__ = ("labels",)

    def __init__(self, labels: Sequence[bytes]) -> None:
        self.labels = labels

    def __str__(self) -> str:
        return labels_to_text(self.labels) if len(self.labels) < 300 else "(too many labels)"


@functools.lru_cache(maxsize=64)
def _zone(zone: str | Labels) -> Labels:
    labels = _name_labels(zone)
    for label in labels:
        if not _SEGMENT.fullmatch(label):
            shown = zone if isinstance(zone, str) else labels_to_text(zone)
            raise MalformedName(f"zone {_show(shown)!r}: its labels may hold only a-z, 0-9, '-' and '_'")
    return labels


def zone_labels(zone: str | Sequence[bytes] = DEFAULT_ZONE) -> Labels:
    """The checked, lower-cased labels of a zone apex (cached per zone).

    Args:
        zone: ``"id.local."`` (a trailing dot is optional) or its labels.

    Raises:
        MalformedName: a label not made of a-z, 0-9, ``-`` and ``_``, or a
            malformed name (see :func:`text_to_labels`).
    """
    if not isinstance(zone, str):
        try:
            zone = tuple(zone)
        except TypeError:
            raise MalformedName(f"expected a zone name or labels, got {type(zone).__name__}") from None
    return _zone(zone)


def _octets(labels: Sequence[bytes]) -> int:
    return sum(len(label) for label in labels) + len(labels) + 1


def _show(value: object) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- identifiers --------------------------------------------------------------------


def _b32(raw: bytes) -> bytes:
    """RFC 4648 base32hex (section 7), lower case, no padding."""
    return base64.b32hexencode(raw).rstrip(b"=").lower()


def _unb32(encoded: bytes) -> bytes | None:
    """The bytes of canonical lower-case base32hex, None when unused bits are set.

    ``int(..., 32)`` reads exactly this alphabet (0-9, a-v) in C; the caller
    has checked the characters (``int`` would also take ``_``, signs and
    spaces) and the length.
    """
    size, spare = divmod(5 * len(encoded), 8)
    value = int(encoded, 32)
    if value & ((1 << spare) - 1):
        return None
    return (value >> spare).to_bytes(size, "big")


def _prefix_labels(prefix: str, handle: str) -> list[bytes]:
    """The reversed prefix segments as labels, checked."""
    segments = prefix.split(".")
    for segment in segments:
        raw = segment.encode("utf-8")
        if not _SEGMENT_CHARS.fullmatch(raw):
            raise UnsupportedPrefix(
                f"handle {_show(handle)!r}: prefix segment {_show(segment)!r} cannot be a DNS label"
                " (only a-z, 0-9, '-' and '_')"
            )
        if len(raw) > _MAX_LABEL:
            raise NameTooLong(
                f"handle {_show(handle)!r} does not fit in a DNS name: a prefix segment of {len(raw)} characters,"
                " a DNS label holds at most 63"
            )
        if raw == HANDLE_MARKER:
            raise UnsupportedPrefix(f"handle {_show(handle)!r}: prefix segment '_h' is the DNS name marker")
    if segments[0].encode() in _RESERVED_TOP:
        raise UnsupportedPrefix(
            f"handle {_show(handle)!r}: a prefix may not start with {segments[0]!r} (the DNS subtree of that scheme)"
        )
    return [segment.encode("ascii") for segment in reversed(segments)]


def max_suffix_bytes(prefix: str, zone: str | Sequence[bytes] = DEFAULT_ZONE) -> int:
    """The most UTF-8 bytes a suffix under ``prefix`` may have to fit in a name under ``zone``.

    Raises:
        InvalidHandle: a malformed prefix.
        UnsupportedPrefix, NameTooLong: the prefix itself cannot be mapped.
        MalformedName: a malformed zone.
    """
    normalised, _ = parse_handle(prefix + "/x")
    room = _MAX_NAME_OCTETS - _octets(zone_labels(zone)) - _octets(_prefix_labels(normalised, prefix)) + 1 - 3
    characters = _MAX_LABEL * (room // 64) + max(0, room % 64 - 1)
    return max(0, characters * 5 // 8)


def handle_to_labels(handle: str, zone: str | Sequence[bytes] = DEFAULT_ZONE) -> Labels:
    """The labels of an identifier's name (see :func:`handle_to_name`)."""
    prefix, suffix = parse_handle(handle)
    zone_part = zone_labels(zone)
    prefix_part = _prefix_labels(prefix, handle)
    encoded = _b32(suffix.encode("utf-8"))
    pieces = [encoded[start : start + _MAX_LABEL] for start in range(0, len(encoded), _MAX_LABEL)]
    pieces.reverse()
    labels = (*pieces, HANDLE_MARKER, *prefix_part, *zone_part)
    octets = _octets(labels)
    if octets > _MAX_NAME_OCTETS:
        most = max_suffix_bytes(prefix, zone_part)
        raise NameTooLong(
            f"handle {_show(prefix + '/' + suffix)!r} does not fit in a DNS name under {labels_to_text(zone_part)}:"
            f" it needs {octets} octets, at most 255 (the suffix has {len(suffix.encode('utf-8'))} UTF-8 bytes;"
            f" under this prefix and zone at most {most} fit)"
        )
    return labels


def handle_to_name(handle: str, zone: str | Sequence[bytes] = DEFAULT_ZONE) -> str:
    """The DNS name of an identifier.

    Args:
        handle: ``<prefix>/<suffix>``; normalised first (``parse_handle``:
            NFC, prefix folded to lower case, suffix kept as given).
        zone: the node's zone apex, text or labels.

    Returns:
        The absolute name, lower case, with a trailing dot:
        ``88.118.8/DEMO-000001`` -> ``8h2kqjpd60o30c1g64._h.8.118.88.id.local.``.

    Raises:
        InvalidHandle: ``handle`` is not a valid handle.
        UnsupportedPrefix: a prefix segment outside a-z, 0-9, ``-``, ``_``,
            equal to ``_h``, or a first segment ``gtin`` or ``oid``.
        NameTooLong: a prefix segment over 63 characters, or a name over 255
            octets (the message says how many suffix bytes would fit).
        MalformedName: a malformed zone.
    """
    return labels_to_text(handle_to_labels(handle, zone))


def classify_name(name: str | Sequence[bytes], zone: str | Sequence[bytes] = DEFAULT_ZONE) -> NameInfo:
    """What a name under the zone stands for.

    Args:
        name: a text name or its labels (any case: ASCII case is ignored).
        zone: the zone apex, text or labels.

    Returns:
        ``NameInfo(APEX, None)`` for the apex; ``(HANDLE, normalised handle)``;
        ``(GTIN, GTIN-14)`` for 13 digit labels under ``gtin.<zone>``;
        ``(OID, dotted OID)`` under ``oid.<zone>``; ``(OTHER, None)`` for any
        other name under the zone, among them the ancestors of identifier
        names (``88.<zone>``, ``_h.8.118.88.<zone>``), ``gtin.<zone>`` with
        fewer than 13 digit labels, ``oid.<zone>`` and server names.

    Raises:
        OutsideZone: the name is not under the zone (a server answers REFUSED).
        MalformedName: a malformed name; a name with the ``_h`` marker whose
            labels are not the encoding of a valid handle (not base32hex, a
            piece other than the leftmost shorter than 63, non-canonical
            base32hex, not UTF-8, not NFC, a control character, an invalid prefix
            label); under ``gtin.`` labels that are not single digits or more
            than 13 of them; under ``oid.`` labels that are not arcs.
    """
    labels = _name_labels(name)
    zone_part = zone_labels(zone)
    cut = len(labels) - len(zone_part)
    if cut < 0 or labels[cut:] != zone_part:
        raise OutsideZone(f"{labels_to_text(labels)} is not under the zone {labels_to_text(zone_part)}")
    if cut == 0:
        return NameInfo(APEX, None)
    inner = labels[:cut]
    if HANDLE_MARKER in inner:
        return _classify_handle(inner, labels)
    top = inner[-1]
    if top == GTIN_LABEL:
        return _classify_gtin(inner[:-1], labels)
    if top == OID_LABEL:
        if cut == 1:
            return NameInfo(OTHER, None)
        return NameInfo(OID, _oid_from_labels(inner[:-1], labels))
    return NameInfo(OTHER, None)


def _classify_handle(inner: Labels, labels: Labels) -> NameInfo:
    marker = inner.index(HANDLE_MARKER)
    pieces = inner[:marker]
    prefix_part = inner[marker + 1 :]
    if not prefix_part:
        raise MalformedName(f"{labels_to_text(labels)}: no prefix labels between the '_h' marker and the zone")
    for label in prefix_part:
        if label == HANDLE_MARKER or not _SEGMENT.fullmatch(label):
            raise MalformedName(f"{labels_to_text(labels)}: {labels_to_text((label,))[:-1]} is not a prefix segment")
    if prefix_part[-1] in _RESERVED_TOP:
        top = prefix_part[-1].decode()
        raise MalformedName(f"{labels_to_text(labels)}: no identifier prefix starts with {top!r}")
    if not pieces:
        return NameInfo(OTHER, None)  # the ancestor of every identifier name under this prefix
    for position in range(1, len(pieces)):
        if len(pieces[position]) != _MAX_LABEL:
            raise MalformedName(
                f"{labels_to_text(labels)}: suffix label {position + 1} from the left is not 63 characters long"
            )
    encoded = b"".join(reversed(pieces)) if len(pieces) > 1 else pieces[0]
    if not _BASE32HEX.fullmatch(encoded):
        raise MalformedName(f"{labels_to_text(labels)}: the suffix labels are not base32hex")
    if len(encoded) % 8 not in _VALID_B32_TAIL:
        raise MalformedName(f"{labels_to_text(labels)}: {len(encoded)} base32hex characters cannot encode whole bytes")
    raw = _unb32(encoded)
    if raw is None:
        raise MalformedName(
            f"{labels_to_text(labels)}: the suffix labels are not canonical base32hex (unused bits set)"
        )
    try:
        suffix = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedName(f"{labels_to_text(labels)}: the suffix is not UTF-8") from None
    prefix = b".".join(reversed(prefix_part)).decode("ascii")
    try:
        normalised = parse_handle(prefix + "/" + suffix)
    except InvalidHandle as exc:
        raise MalformedName(f"{labels_to_text(labels)}: {exc.message}") from None
    if normalised != (prefix, suffix):
        raise MalformedName(f"{labels_to_text(labels)}: the suffix is not in Unicode NFC")
    return NameInfo(HANDLE, prefix + "/" + suffix)


def is_prefix_segment(label: bytes) -> bool:
    """True for a label that can be a prefix segment (lower-case a-z, 0-9, ``-``, ``_``; not ``_h``)."""
    return label != HANDLE_MARKER and _SEGMENT.fullmatch(label) is not None


def split_handle_name(
    name: str | Sequence[bytes], zone: str | Sequence[bytes] = DEFAULT_ZONE
) -> tuple[str, bytes] | None:
    """The prefix and the joined suffix encoding of a name that longer identifier names can lie below.

    Such a name has the ``_h`` marker, valid prefix labels and suffix labels
    of exactly 63 base32hex characters each (a shorter leftmost label ends
    every name it is in). It need not decode to whole bytes: a 63-character
    piece followed by more is cut mid-byte.

    Returns:
        ``(prefix, encoded)`` with ``encoded`` the base32hex pieces in
        suffix order, or None for any other name.
    """
    try:
        labels = _name_labels(name)
    except MalformedName:
        return None
    zone_part = zone_labels(zone)
    cut = len(labels) - len(zone_part)
    if cut < 2 or labels[cut:] != zone_part or HANDLE_MARKER not in labels[:cut]:
        return None
    inner = labels[:cut]
    marker = inner.index(HANDLE_MARKER)
    pieces, prefix_part = inner[:marker], inner[marker + 1 :]
    if not pieces or not prefix_part or prefix_part[-1] in _RESERVED_TOP:
        return None
    if not all(is_prefix_segment(label) for label in prefix_part):
        return None
    if not all(len(piece) == _MAX_LABEL and _BASE32HEX.fullmatch(piece) for piece in pieces):
        return None
    return b".".join(reversed(prefix_part)).decode("ascii"), b"".join(reversed(pieces))


def name_to_handle(name: str | Sequence[bytes], zone: str | Sequence[bytes] = DEFAULT_ZONE) -> str:
    """The identifier a DNS name stands for (the inverse of :func:`handle_to_name`).

    Args:
        name: a text name or its labels, in any ASCII case.
        zone: the zone apex, text or labels.

    Returns:
        The normalised handle (``normalise_handle`` of the one that was encoded).

    Raises:
        OutsideZone: the name is not under the zone.
        NotAnIdentifierName: the apex, a GTIN or OID name (the message names
            the GTIN or OID), or any other name under the zone without an
            identifier encoding.
        MalformedName: see :func:`classify_name`.
    """
    info = classify_name(name, zone)
    if info.kind == HANDLE:
        return info.value  # type: ignore[return-value]
    shown = labels_to_text(_name_labels(name))
    what = {
        APEX: "the zone apex",
        GTIN: f"a GTIN name ({info.value})",
        OID: f"an OID name ({info.value})",
    }.get(info.kind, "a name under the zone")
    raise NotAnIdentifierName(f"{shown} is {what}, not an identifier name")


# -- GS1 keys -----------------------------------------------------------------------


def _gtin_check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of the digits before it."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        total += int(digit) * (3 if position % 2 == 0 else 1)
    return str(-total % 10)


def _gtin14(gtin: str) -> str:
    if not isinstance(gtin, str) or not gtin.isascii() or not gtin.isdigit() or len(gtin) not in (8, 12, 13, 14):
        raise InvalidKey(f"invalid GTIN {_show(gtin)!r}: expected 8, 12, 13 or 14 digits")
    expected = _gtin_check_digit(gtin[:-1])
    if gtin[-1] != expected:
        raise InvalidKey(f"invalid GTIN {gtin!r}: check digit {gtin[-1]}, expected {expected}")
    return gtin.zfill(14)


def gtin_to_labels(gtin: str, zone: str | Sequence[bytes] = DEFAULT_ZONE) -> Labels:
    """The labels of a GTIN's name (see :func:`gtin_to_name`)."""
    digits = _gtin14(gtin)[:13].encode("ascii")
    labels = (
        digits[0:1],
        *(digits[i : i + 1] for i in range(12, 0, -1)),
        GTIN_LABEL,
        *zone_labels(zone),
    )
    if _octets(labels) > _MAX_NAME_OCTETS:
        raise NameTooLong(f"GTIN {gtin} does not fit in a DNS name under {labels_to_text(zone_labels(zone))}")
    return labels


def gtin_to_name(gtin: str, zone: str | Sequence[bytes] = DEFAULT_ZONE) -> str:
    """The GS1 ONS 2.0.1 style name of a GTIN under ``gtin.<zone>``.

    The GTIN is padded to 14 digits and its check digit dropped; the
    indicator digit comes first, then the other 12 digits reversed, one per
    label: ``00614141322602`` -> ``0.0.6.2.2.3.1.4.1.4.1.6.0.gtin.id.local.``.

    Args:
        gtin: GTIN-8, -12, -13 or -14 digits with a valid check digit.
        zone: the zone apex, text or labels.

    Raises:
        InvalidKey: not 8/12/13/14 ASCII digits, or a wrong check digit.
        NameTooLong: the zone leaves no room.
        MalformedName: a malformed zone.
    """
    return labels_to_text(gtin_to_labels(gtin, zone))


def _classify_gtin(digits: Labels, labels: Labels) -> NameInfo:
    if not all(len(label) == 1 and label.isdigit() for label in digits) or len(digits) > 13:
        raise MalformedName(f"{labels_to_text(labels)}: a GTIN name has up to 13 single-digit labels before gtin.")
    if len(digits) < 13:
        return NameInfo(OTHER, None)
    data = (digits[0] + b"".join(reversed(digits[1:]))).decode("ascii")
    return NameInfo(GTIN, data + _gtin_check_digit(data))


def name_to_gtin(name: str | Sequence[bytes], zone: str | Sequence[bytes] = DEFAULT_ZONE) -> str:
    """The GTIN-14 (check digit restored) a ``gtin.<zone>`` name stands for.

    Raises:
        OutsideZone: the name is not under the zone.
        NotAnIdentifierName: a name under the zone that is not a GTIN name.
        MalformedName: see :func:`classify_name`.
    """
    info = classify_name(name, zone)
    if info.kind != GTIN:
        raise NotAnIdentifierName(f"{labels_to_text(_name_labels(name))} is not a GTIN name")
    return info.value  # type: ignore[return-value]


# -- OIDs ---------------------------------------------------------------------------


def _check_arcs(arcs: Sequence[bytes], oid: object, error: type[DnsNameError]) -> None:
    for arc in arcs:
        if not _ARC.fullmatch(arc):
            raise error(f"invalid OID {_show(oid)!r}: arcs are decimal numbers without leading zeros")
    if int(arcs[0]) > 2:
        raise error(f"invalid OID {_show(oid)!r}: the first arc is 0, 1 or 2")
    if len(arcs) > 1 and int(arcs[0]) < 2 and int(arcs[1]) > 39:
        raise error(f"invalid OID {_show(oid)!r}: under arcs 0 and 1 the second arc is at most 39")


def oid_to_labels(oid: str, zone: str | Sequence[bytes] = DEFAULT_ZONE) -> Labels:
    """The labels of an OID's name (see :func:`oid_to_name`)."""
    if not isinstance(oid, str) or not oid.isascii() or not oid:
        raise InvalidKey(f"invalid OID {_show(oid)!r}: expected dotted decimal arcs")
    arcs = oid.encode("ascii").split(b".")
    _check_arcs(arcs, oid, InvalidKey)
    labels = (*reversed(arcs), OID_LABEL, *zone_labels(zone))
    longest = max(len(arc) for arc in arcs)
    if longest > _MAX_LABEL or _octets(labels) > _MAX_NAME_OCTETS:
        raise NameTooLong(
            f"OID {_show(oid)!r} does not fit in a DNS name under {labels_to_text(zone_labels(zone))}"
            f" ({_octets(labels)} octets, at most 255; longest arc {longest} digits, at most 63)"
        )
    return labels


def oid_to_name(oid: str, zone: str | Sequence[bytes] = DEFAULT_ZONE) -> str:
    """The ITU-T X.672 style name of an OID under ``oid.<zone>``: the arcs reversed.

    ``2.16.156.101818.102.1`` -> ``1.102.101818.156.16.2.oid.id.local.``

    Args:
        oid: dotted decimal arcs without leading zeros; the first arc 0, 1 or
            2, the second at most 39 under 0 and 1.
        zone: the zone apex, text or labels.

    Raises:
        InvalidKey: not such an OID.
        NameTooLong: an arc over 63 digits or a name over 255 octets.
        MalformedName: a malformed zone.
    """
    return labels_to_text(oid_to_labels(oid, zone))


def _oid_from_labels(arcs: Labels, labels: Labels) -> str:
    ordered = tuple(reversed(arcs))
    _check_arcs(ordered, labels_to_text(labels), MalformedName)
    return b".".join(ordered).decode("ascii")


def name_to_oid(name: str | Sequence[bytes], zone: str | Sequence[bytes] = DEFAULT_ZONE) -> str:
    """The OID an ``oid.<zone>`` name stands for (the inverse of :func:`oid_to_name`).

    Raises:
        OutsideZone: the name is not under the zone.
        NotAnIdentifierName: a name under the zone that is not an OID name.
        MalformedName: see :func:`classify_name`.
    """
    info = classify_name(name, zone)
    if info.kind != OID:
        raise NotAnIdentifierName(f"{labels_to_text(_name_labels(name))} is not an OID name")
    return info.value  # type: ignore[return-value]
