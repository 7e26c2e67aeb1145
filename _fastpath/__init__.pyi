# The public API of idnode._fastpath: one stub for both implementations
# (_identifiers_py/_identifiers_c and _record_py/_record_c), STYLE.md point 5.

from collections.abc import Callable, Container, Iterable, Sequence

from idnode._fastpath import _dns_py
from idnode._fastpath._common import FLAG_FULL_HANDLE as FLAG_FULL_HANDLE
from idnode._fastpath._common import FLAG_TOMBSTONE as FLAG_TOMBSTONE
from idnode._fastpath._common import FORMAT_VERSION as FORMAT_VERSION
from idnode._fastpath._common import MAX_HANDLE_CHARS as MAX_HANDLE_CHARS
from idnode._fastpath._common import MAX_KEY_BYTES as MAX_KEY_BYTES
from idnode._fastpath._common import MAX_PREFIX_CHARS as MAX_PREFIX_CHARS
from idnode._fastpath._common import PERM_ADMIN_READ as PERM_ADMIN_READ
from idnode._fastpath._common import PERM_ADMIN_WRITE as PERM_ADMIN_WRITE
from idnode._fastpath._common import PERM_PUBLIC_READ as PERM_PUBLIC_READ
from idnode._fastpath._common import PERM_PUBLIC_WRITE as PERM_PUBLIC_WRITE
from idnode._fastpath._common import RecordError as RecordError

_Bytes = bytes | bytearray | memoryview

COMPILED: bool
IMPLEMENTATION: str  # "cython" or "python"
BUILD_ERROR: str  # why the compiled modules are not in use; "" when they are

# The DNS wire codec, used as a module: _dns_c or _dns_py, one API (the twin's annotations).
dns = _dns_py

# identifiers
def parse_handle(text: str) -> tuple[str, str]: ...
def normalise_handle(text: str) -> str: ...
def parse_prefix(text: str) -> str: ...
def handle_key(prefix: str, suffix: str) -> bytes: ...
def key_is_digested(key: bytes) -> bool: ...
def prefix_key(prefix: str) -> bytes: ...
def key_handle(key: bytes | bytearray) -> str: ...

# stored record
def encode_record(
    frames: Sequence[tuple[int, int, bytes]],
    created: int,
    updated: int,
    template_version: str = "",
    handle: str = "",
    tombstone: bool = False,
) -> bytes: ...
def decode_header(record: _Bytes) -> tuple[int, int, int, str, str, int]: ...
def iter_frames(record: _Bytes, offset: int) -> list[tuple[int, int, bytes]]: ...
def frame_type(frame: bytes | bytearray) -> str: ...
def type_matches(value_type: str, types: Iterable[str]) -> bool: ...
def select_frames(
    record: _Bytes,
    offset: int,
    required_perms: int,
    indexes: Container[int] = (),
    types: Iterable[str] = (),
) -> list[bytes]: ...

# Resolve wire messages
def encode_resolve_response(code: int, handle: str, frames: Iterable[bytes], message: str = "") -> bytes: ...
def encode_batch_response(replies: Iterable[bytes]) -> bytes: ...
def decode_resolve_request(buf: bytes | bytearray) -> tuple[str, tuple[int, ...], tuple[str, ...]]: ...
def decode_batch_request(buf: bytes | bytearray) -> tuple[list[str], tuple[int, ...], tuple[str, ...]]: ...

# -- batch resolution of the common case (_resolve_py / _resolve_c) ---------------

def resolve_local(
    handles: Sequence[str],
    get: Callable[[bytes], bytes | None],
    required_perms: int,
    indexes: tuple[int, ...],
    types: tuple[str, ...],
) -> list[bytes | None]: ...

# -- the direct DNS answer of the common case (_dnsanswer_py / _dnsanswer_c) -------

def answer_direct(
    wire: bytes,
    get: Callable[[bytes], bytes | None],
    zone: bytes,
    node_prefix: str,
    tcp: bool = False,
    serial: Callable[[], int] | None = None,
    soa: tuple[bytes, int, bytes] | None = None,
) -> bytes | None: ...
