"""Handle values (RFC 3651): immutable, validated when built, with codecs.

A :class:`Value` converts to and from ``idnode.v1.HandleValue`` (the wire and
stored frame form) and to and from Handle REST JSON. ``HS_ADMIN`` data is an
:class:`AdminData` with its 12 permission bits; ``HS_VLIST`` data a tuple of
:class:`Reference`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import unicodedata
from typing import Any

from google.protobuf.message import DecodeError

from idnode._fastpath._common import RecordError
from idnode.proto import common_pb2
from idnode.registry.errors import InvalidValue

# Value permission bits (RFC 3651 section 3.1): admin read, admin write,
# public read, public write; Handle's default is 1110.
PERM_ADMIN_READ = 0b1000
PERM_ADMIN_WRITE = 0b0100
PERM_PUBLIC_READ = 0b0010
PERM_PUBLIC_WRITE = 0b0001
DEFAULT_PERMISSIONS = 0b1110
DEFAULT_TTL = 86400

# HS_ADMIN permission bits (DOMAIN.md section 3).
ADMIN_ADD_HANDLE = 0x001
ADMIN_DELETE_HANDLE = 0x002
ADMIN_ADD_PREFIX = 0x004
ADMIN_DELETE_PREFIX = 0x008
ADMIN_MODIFY_VALUE = 0x010
ADMIN_REMOVE_VALUE = 0x020
ADMIN_ADD_VALUE = 0x040
ADMIN_READ_VALUE = 0x080
ADMIN_MODIFY_ADMIN = 0x100
ADMIN_REMOVE_ADMIN = 0x200
ADMIN_ADD_ADMIN = 0x400
ADMIN_LIST_HANDLES = 0x800
ADMIN_ALL = 0xFFF

MAX_INDEX = 0xFFFFFFFF
MAX_TYPE_CHARS = 128
MAX_STRING_CHARS = 255
MAX_BINARY_BYTES = 65536
MAX_VALUES = 1000
TEMPLATE_VERSION_INDEX = 1001
TEMPLATE_VERSION_TYPE = "TEMPLATE_VERSION"

FORMATS = ("string", "base64", "hex", "admin", "vlist")
_FORMAT_TO_PB = {
    "string": common_pb2.DATA_FORMAT_STRING,
    "base64": common_pb2.DATA_FORMAT_BASE64,
    "hex": common_pb2.DATA_FORMAT_HEX,
    "admin": common_pb2.DATA_FORMAT_ADMIN,
    "vlist": common_pb2.DATA_FORMAT_VLIST,
}
_PB_TO_FORMAT = {v: k for k, v in _FORMAT_TO_PB.items()}
_PB_TO_FORMAT[common_pb2.DATA_FORMAT_UNSPECIFIED] = "string"


def _check_text(what: str, text: Any, max_chars: int, *, allow_empty: bool = False) -> str:
    if not isinstance(text, str):
        raise InvalidValue(f"{what} must be text, got {type(text).__name__}")
    if not text and not allow_empty:
        raise InvalidValue(f"{what} is empty")
    if len(text) > max_chars:
        raise InvalidValue(f"{what} has {len(text)} characters, at most {max_chars} allowed")
    if not (text.isascii() and text.isprintable()):
        for pos, char in enumerate(text):
            if unicodedata.category(char) in ("Cc", "Cs"):
                raise InvalidValue(f"{what} has control character U+{ord(char):04X} at position {pos}")
    return text


def _check_index(what: str, index: Any) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 < index <= MAX_INDEX:
        raise InvalidValue(f"{what} must be an integer from 1 to {MAX_INDEX}, got {index!r}")
    return index


def permissions_to_str(bits: int, width: int) -> str:
    """Permission bits as Handle JSON writes them: most significant bit first."""
    return format(bits, f"0{width}b")


def permissions_from_str(text: str, width: int, what: str) -> int:
    """Parse a permission bit string such as ``"1110"`` or ``"011111110011"``."""
    if not isinstance(text, str) or len(text) != width or set(text) - {"0", "1"}:
        raise InvalidValue(f"{what} must be {width} characters of 0 and 1, got {text!r}")
    return int(text, 2)


@dataclasses.dataclass(frozen=True, slots=True)
class Reference:
    """A (handle, index) pair."""

    handle: str
    index: int

    def __post_init__(self) -> None:
        _check_text("reference handle", self.handle, 2048)
        _check_index("reference index", self.index)


@dataclasses.dataclass(frozen=True, slots=True)
class AdminData:
    """HS_ADMIN data: the administrator (handle, index) and its 12 permission bits."""

    handle: str
    index: int
    permissions: int = ADMIN_ALL

    def __post_init__(self) -> None:
        _check_text("admin handle", self.handle, 2048)
        _check_index("admin index", self.index)
        if (
            isinstance(self.permissions, bool)
            or not isinstance(self.permissions, int)
            or not (0 <= self.permissions <= ADMIN_ALL)
        ):
            raise InvalidValue(f"admin permissions must be 12 bits, got {self.permissions!r}")

    def allows(self, bit: int) -> bool:
        return bool(self.permissions & bit)


@dataclasses.dataclass(frozen=True, slots=True)
class Value:
    """One Handle value. Validated in ``__post_init__``; immutable.

    ``data`` is ``bytes`` for the formats string (UTF-8 text, at most 255
    characters), base64 and hex (raw bytes); an :class:`AdminData` for
    ``admin``; a tuple of :class:`Reference` for ``vlist``.
    """

    index: int
    type: str
    data: bytes | AdminData | tuple[Reference, ...]
    format: str = "string"
    ttl: int = DEFAULT_TTL
    ttl_absolute: bool = False
    timestamp: int = 0
    permissions: int = DEFAULT_PERMISSIONS
    references: tuple[Reference, ...] = ()

    def __post_init__(self) -> None:
        # Fast accept for the common case (short ASCII string values, plain
        # ints); anything else takes the full checks below, which name the fault.
        index, vtype, data = self.index, self.type, self.data
        if (
            type(index) is int
            and 0 < index <= MAX_INDEX
            and type(vtype) is str
            and 0 < len(vtype) <= MAX_TYPE_CHARS
            and vtype.isascii()
            and vtype.isprintable()
            and self.format == "string"
            and type(data) is bytes
            and len(data) <= MAX_STRING_CHARS
            and data.isascii()
            and vtype != "HS_ADMIN"
            and vtype != "HS_VLIST"
            and type(self.ttl) is int
            and 0 <= self.ttl <= MAX_INDEX
            and type(self.timestamp) is int
            and 0 <= self.timestamp < 2**63
            and type(self.permissions) is int
            and 0 <= self.permissions <= 0b1111
            and self.references == ()
        ):
            return
        _check_index("value index", self.index)
        _check_text(f"type of value {self.index}", self.type, MAX_TYPE_CHARS)
        where = f"value {self.index} ({self.type})"
        if self.format not in FORMATS:
            raise InvalidValue(f"{where}: unknown data format {self.format!r}, expected one of {', '.join(FORMATS)}")
        if self.format == "admin":
            if not isinstance(self.data, AdminData):
                raise InvalidValue(f"{where}: admin format needs admin data")
        elif self.format == "vlist":
            if not isinstance(self.data, tuple) or not all(isinstance(r, Reference) for r in self.data):
                raise InvalidValue(f"{where}: vlist format needs a list of references")
        else:
            if not isinstance(self.data, bytes):
                raise InvalidValue(f"{where}: data must be bytes")
            if self.format == "string":
                try:
                    text = self.data.decode()
                except UnicodeDecodeError:
                    raise InvalidValue(f"{where}: string data is not valid UTF-8") from None
                if len(text) > MAX_STRING_CHARS:
                    raise InvalidValue(
                        f"{where}: string data has {len(text)} characters, at most {MAX_STRING_CHARS} allowed",
                        field=self.type,
                        problem="too_long",
                        params={"max": MAX_STRING_CHARS},
                    )
            elif len(self.data) > MAX_BINARY_BYTES:
                raise InvalidValue(f"{where}: data has {len(self.data)} bytes, at most {MAX_BINARY_BYTES} allowed")
        if self.type == "HS_ADMIN" and self.format != "admin":
            raise InvalidValue(f"{where}: HS_ADMIN values need admin data")
        if self.type == "HS_VLIST" and self.format != "vlist":
            raise InvalidValue(f"{where}: HS_VLIST values need vlist data")
        for name, number, top in (("ttl", self.ttl, MAX_INDEX), ("timestamp", self.timestamp, 2**63 - 1)):
            if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= top:
                raise InvalidValue(f"{where}: {name} must be an integer from 0 to {top}, got {number!r}")
        if (
            isinstance(self.permissions, bool)
            or not isinstance(self.permissions, int)
            or not (0 <= self.permissions <= 0b1111)
        ):
            raise InvalidValue(f"{where}: permissions must be 4 bits, got {self.permissions!r}")
        if not isinstance(self.references, tuple) or not all(isinstance(r, Reference) for r in self.references):
            raise InvalidValue(f"{where}: references must be a tuple of Reference")

    @property
    def public_read(self) -> bool:
        return bool(self.permissions & PERM_PUBLIC_READ)

    @property
    def text(self) -> str:
        """The data as text: string data itself, base64/hex rendered, admin and vlist summarised."""
        if self.format == "string":
            return self.data.decode()  # type: ignore[union-attr]
        if self.format == "base64":
            return base64.b64encode(self.data).decode()  # type: ignore[arg-type]
        if self.format == "hex":
            return self.data.hex()  # type: ignore[union-attr]
        if self.format == "admin":
            a: AdminData = self.data  # type: ignore[assignment]
            return f"{a.index}:{a.handle} {permissions_to_str(a.permissions, 12)}"
        return " ".join(f"{r.index}:{r.handle}" for r in self.data)  # type: ignore[union-attr]

    def same_content(self, other: Value) -> bool:
        """Equal apart from the timestamp (idempotent creates compare this way)."""
        return dataclasses.replace(self, timestamp=0) == dataclasses.replace(other, timestamp=0)

    # -- protobuf (wire and stored frame form) ---------------------------------

    def to_pb(self, timestamp: int | None = None) -> common_pb2.HandleValue:
        """The HandleValue message; ``timestamp`` overrides the value's own."""
        msg = common_pb2.HandleValue(
            index=self.index,
            type=self.type,
            format=_FORMAT_TO_PB[self.format],
            ttl=self.ttl,
            ttl_absolute=self.ttl_absolute,
            timestamp=self.timestamp if timestamp is None else timestamp,
            permissions=self.permissions,
        )
        if self.format == "admin":
            a: AdminData = self.data  # type: ignore[assignment]
            msg.admin.handle, msg.admin.index, msg.admin.permissions = a.handle, a.index, a.permissions
        elif self.format == "vlist":
            msg.vlist.extend(common_pb2.Reference(handle=r.handle, index=r.index) for r in self.data)  # type: ignore[union-attr]
        else:
            msg.data = self.data  # type: ignore[assignment]
        msg.references.extend(common_pb2.Reference(handle=r.handle, index=r.index) for r in self.references)
        return msg

    def to_frame(self, timestamp: int | None = None) -> bytes:
        """The stored frame: this value's HandleValue wire bytes."""
        return self.to_pb(timestamp).SerializeToString()

    @classmethod
    def from_pb(cls, msg: common_pb2.HandleValue) -> Value:
        """Build from a HandleValue; absent ttl/permissions take Handle's defaults.

        Raises:
            InvalidValue: any field out of range or inconsistent with the format.
        """
        fmt = _PB_TO_FORMAT.get(msg.format)
        if fmt is None:
            raise InvalidValue(f"value {msg.index}: unknown data format {msg.format}")
        data: bytes | AdminData | tuple[Reference, ...]
        if fmt == "admin":
            data = AdminData(msg.admin.handle, msg.admin.index, msg.admin.permissions)
        elif fmt == "vlist":
            data = tuple(Reference(r.handle, r.index) for r in msg.vlist)
        else:
            data = msg.data
        refs = msg.references
        return cls(
            msg.index,
            msg.type,
            data,
            fmt,
            msg.ttl if msg.HasField("ttl") else DEFAULT_TTL,
            msg.ttl_absolute,
            msg.timestamp,
            msg.permissions if msg.HasField("permissions") else DEFAULT_PERMISSIONS,
            tuple(Reference(r.handle, r.index) for r in refs) if refs else (),
        )

    @classmethod
    def from_frame(cls, frame: bytes) -> Value:
        """Build from a stored frame (a record's value).

        Raises:
            RecordError: the frame is not a HandleValue or not a valid value
                (a damaged record, like every other record damage).
        """
        try:
            return cls.from_pb(common_pb2.HandleValue.FromString(frame))
        except DecodeError:
            raise RecordError("value frame is not a HandleValue message") from None
        except InvalidValue as exc:
            raise RecordError(f"stored value is not valid: {exc.message}") from None

    # -- Handle REST JSON ------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The Handle REST JSON form (permissions/references only when not default)."""
        import datetime

        if self.format == "admin":
            a: AdminData = self.data  # type: ignore[assignment]
            value: Any = {"handle": a.handle, "index": a.index, "permissions": permissions_to_str(a.permissions, 12)}
        elif self.format == "vlist":
            value = [{"handle": r.handle, "index": r.index} for r in self.data]  # type: ignore[union-attr]
        else:
            value = self.text
        out: dict[str, Any] = {
            "index": self.index,
            "type": self.type,
            "data": {"format": self.format, "value": value},
            "ttl": self.ttl,
            "timestamp": datetime.datetime.fromtimestamp(self.timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if self.ttl_absolute:
            out["ttlType"] = 1
        if self.permissions != DEFAULT_PERMISSIONS:
            out["permissions"] = permissions_to_str(self.permissions, 4)
        if self.references:
            out["references"] = [{"handle": r.handle, "index": r.index} for r in self.references]
        return out

    @classmethod
    def from_json(cls, obj: Any, default_index: int | None = None) -> Value:
        """Parse a Handle REST / import JSON value.

        Accepts ``data`` as ``{"format", "value"}`` or as a bare string.

        Raises:
            InvalidValue: the message names the field that is wrong.
        """
        if not isinstance(obj, dict):
            raise InvalidValue(f"a value must be a JSON object, got {type(obj).__name__}")
        index = obj.get("index", default_index)
        if isinstance(index, str) and index.isdigit():
            index = int(index)
        vtype = obj.get("type")
        where = f"value {index} ({vtype})"
        raw = obj.get("data")
        if isinstance(raw, str):
            fmt, payload = "string", raw
        elif isinstance(raw, dict):
            fmt, payload = raw.get("format", "string"), raw.get("value")
        else:
            raise InvalidValue(f"{where}: data must be a string or {{format, value}}")
        if vtype == "HS_ADMIN" and fmt == "string" and isinstance(payload, dict):
            fmt = "admin"
        data: bytes | AdminData | tuple[Reference, ...]
        try:
            if fmt == "string":
                if not isinstance(payload, str):
                    raise InvalidValue(f"{where}: string data must be text")
                data = payload.encode("utf-8", "strict")
            elif fmt == "base64":
                data = base64.b64decode(payload, validate=True)
            elif fmt == "hex":
                data = bytes.fromhex(payload)
            elif fmt == "admin":
                if not isinstance(payload, dict):
                    raise InvalidValue(f"{where}: admin data must be an object")
                perms = payload.get("permissions", "111111111111")
                data = AdminData(
                    payload.get("handle"),
                    payload.get("index"),
                    permissions_from_str(perms, 12, f"{where}: admin permissions") if isinstance(perms, str) else perms,
                )
            elif fmt == "vlist":
                if not isinstance(payload, list):
                    raise InvalidValue(f"{where}: vlist data must be a list")
                data = tuple(Reference(r.get("handle"), r.get("index")) for r in payload if isinstance(r, dict))
                if len(data) != len(payload):
                    raise InvalidValue(f"{where}: vlist entries must be {{handle, index}} objects")
            else:
                raise InvalidValue(f"{where}: unknown data format {fmt!r}, expected one of {', '.join(FORMATS)}")
        except (binascii.Error, ValueError, TypeError) as exc:
            if isinstance(exc, InvalidValue):
                raise
            raise InvalidValue(f"{where}: data is not valid {fmt}: {exc}") from None
        perms_field = obj.get("permissions", DEFAULT_PERMISSIONS)
        if isinstance(perms_field, str):
            perms_field = permissions_from_str(perms_field, 4, f"{where}: permissions")
        refs = obj.get("references") or []
        if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
            raise InvalidValue(f"{where}: references must be a list of {{handle, index}}")
        return cls(
            index=index,
            type=vtype,
            data=data,
            format=fmt,
            ttl=obj.get("ttl", DEFAULT_TTL),
            ttl_absolute=obj.get("ttlType", 0) == 1,
            timestamp=0,
            permissions=perms_field,
            references=tuple(Reference(r.get("handle"), r.get("index")) for r in refs),
        )


def check_value_set(values: tuple[Value, ...] | list[Value], handle: str = "") -> None:
    """A handle's values: at least one, at most MAX_VALUES, indexes unique.

    Raises:
        InvalidValue: names the duplicate index.
    """
    if not values:
        raise InvalidValue("an identifier needs at least one value", handle=handle)
    if len(values) > MAX_VALUES:
        raise InvalidValue(f"{len(values)} values, at most {MAX_VALUES} allowed", handle=handle)
    seen: set[int] = set()
    for value in values:
        if value.index in seen:
            raise InvalidValue(f"index {value.index} appears twice", handle=handle)
        seen.add(value.index)
