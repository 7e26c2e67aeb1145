"""Per-function timing of the compiled fast path against its pure-Python twin.

Inputs are the realistic ones of the read path: a 30-character ASCII handle,
a stored record of 5 values (about 300 bytes), a batch of 100 handles; for
the DNS codec, a NAPTR query with EDNS for an identifier name and its answer
of two NAPTR records.
``python -m idnode._fastpath.bench [-n CALLS]`` prints a Markdown table;
:func:`compare` returns the figures for other benchmark drivers.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import timeit
from types import ModuleType
from typing import Any

from idnode._fastpath import _dns_py, _identifiers_py, _record_py

HANDLE = "88.118.8/JXDY2106023-A00000001"  # 30 characters
PREFIX, SUFFIX = HANDLE.split("/", 1)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _value(index: int, type_: str, data: bytes, permissions: int) -> tuple[int, int, bytes]:
    """``(permissions, index, HandleValue wire bytes)`` as the registry stores it."""
    frame = b"".join(
        [
            _field(1, index),
            _field(2, type_.encode()),
            _field(4, data),
            _field(7, 86400),
            _field(9, 1700000000),
            _field(10, permissions),
        ]
    )
    return permissions, index, frame


FRAMES = [
    _value(1, "URL", b"https://example.com/products/JXDY2106023-A00000001", 0b1110),
    _value(2, "productName", "三相异步电动机 Y2-132M-4".encode(), 0b1110),
    _value(3, "contact.email", b"sales@example.com", 0b1110),
    _value(4, "contact.phone", b"+86 591 0000 0000", 0b1100),
    _value(100, "HS_ADMIN", b"\x0a\x0e88.118.8/ADMIN\x10\xac\x02\x18\xf3\x1f", 0b1100),
]
RECORD = _record_py.encode_record(FRAMES, 1700000000, 1700000500, "1.0")
OFFSET = _record_py.decode_header(RECORD)[5]
VALUE_FRAMES = [frame for _, _, frame in FRAMES]
REPLY = _record_py.encode_resolve_response(1, HANDLE, VALUE_FRAMES[:3])
BATCH_HANDLES = [f"88.118.8/JXDY2106023-A{i:08d}" for i in range(100)]
RESOLVE_REQUEST = _field(1, HANDLE.encode()) + _field(3, b"URL")
BATCH_REQUEST = b"".join(_field(1, h.encode()) for h in BATCH_HANDLES) + _field(2, b"\x01\x02") + _field(3, b"URL.")
KEY = _identifiers_py.handle_key(PREFIX, SUFFIX)
BATCH_STORE = {
    _identifiers_py.handle_key(*_identifiers_py.parse_handle(h)): RECORD for h in BATCH_HANDLES
}  # a dict stands in for the LMDB lookup, so the row times the loop itself

# (function, arguments): one row per public function, plus the filtered variant
# of select_frames, which reads every value's type.
CASES: list[tuple[str, str, tuple[Any, ...]]] = [
    ("parse_handle", "parse_handle", (HANDLE,)),
    ("normalise_handle", "normalise_handle", (HANDLE,)),
    ("parse_prefix", "parse_prefix", (PREFIX,)),
    ("handle_key", "handle_key", (PREFIX, SUFFIX)),
    ("prefix_key", "prefix_key", (PREFIX,)),
    ("key_handle", "key_handle", (KEY,)),
    ("key_is_digested", "key_is_digested", (KEY,)),
    ("encode_record", "encode_record", (FRAMES, 1700000000, 1700000500, "1.0")),
    ("decode_header", "decode_header", (RECORD,)),
    ("iter_frames", "iter_frames", (RECORD, OFFSET)),
    ("select_frames", "select_frames", (RECORD, OFFSET, 0b0010)),
    ("select_frames (types)", "select_frames", (RECORD, OFFSET, 0b0010, (), ("URL", "contact."))),
    ("frame_type", "frame_type", (VALUE_FRAMES[1],)),
    ("type_matches", "type_matches", ("contact.email", ("URL", "contact."))),
    ("encode_resolve_response", "encode_resolve_response", (1, HANDLE, VALUE_FRAMES[:3])),
    ("encode_batch_response", "encode_batch_response", ([REPLY] * 100,)),
    ("decode_resolve_request", "decode_resolve_request", (RESOLVE_REQUEST,)),
    ("decode_batch_request", "decode_batch_request", (BATCH_REQUEST,)),
    ("resolve_local (100)", "resolve_local", (BATCH_HANDLES, BATCH_STORE.get, 0b0010, (), ())),
]

# The DNS codec (_dns_py / _dns_c): (label, function, arguments, keyword arguments).
DNS_NAME = (b"8h2kqjpd60o30c1g64", b"_h", b"8", b"118", b"88", b"id", b"local")
DNS_QUERY = (
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01"  # id, RD, one question, one additional
    + _dns_py.rdata_ns(DNS_NAME)  # the name, uncompressed
    + b"\x00\x23\x00\x01"  # NAPTR IN
    + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"  # OPT: payload 1232
)
DNS_PARSED = _dns_py.parse_query(DNS_QUERY)
DNS_ANSWERS = [
    (DNS_NAME, _dns_py.NAPTR, 1, 300, _dns_py.rdata_naptr(100, 10, "U", "E2U+URL", f"!^.*$!{url}!"))
    for url in ("https://example.com/products/JXDY2106023-A00000001", "https://example.com/p/A00000001.json")
]
# The direct DNS answer (_dnsanswer_py / _dnsanswer_c): a NAPTR query for HANDLE, answered from BATCH_STORE.
ANSWER_QUERY = (
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01"
    + _dns_py.rdata_ns(
        (base64.b32hexencode(SUFFIX.encode()).rstrip(b"=").lower(), b"_h", b"8", b"118", b"88", b"id", b"local")
    )
    + b"\x00\x23\x00\x01"
    + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"
)
DNS_CASES: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = [
    ("parse_query", "parse_query", (DNS_QUERY,), {}),
    ("build_response (2 NAPTR)", "build_response", (DNS_PARSED, _dns_py.NOERROR, DNS_ANSWERS), {"max_size": 1232}),
]
ANSWER_CASES: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = [
    ("answer_direct (NAPTR)", "answer_direct", (ANSWER_QUERY, BATCH_STORE.get, b"\x02id\x05local\x00", "88.118"), {}),
]


def _module_of(name: str, compiled: bool) -> ModuleType | None:
    owners = {"resolve_local": "_resolve", **{dns_name: "_dns" for _, dns_name, _, _ in DNS_CASES}}
    owners["answer_direct"] = "_dnsanswer"
    base = owners.get(name) or ("_identifiers" if hasattr(_identifiers_py, name) else "_record")
    try:
        return importlib.import_module(f"idnode._fastpath.{base}_{'c' if compiled else 'py'}")
    except ImportError:
        return None


def _per_call_us(fn: Any, args: tuple[Any, ...], n: int, kwargs: dict[str, Any] | None = None) -> float:
    timer = timeit.Timer("fn(*args, **kwargs)", globals={"fn": fn, "args": args, "kwargs": kwargs or {}})
    return min(timer.repeat(repeat=5, number=n)) / n * 1e6


def compare(n: int = 20000) -> list[dict[str, Any]]:
    """Time every public function in both implementations.

    Args:
        n: calls per measurement (the best of five measurements is kept).

    Returns:
        One dict per case, in :data:`CASES`, :data:`DNS_CASES`, :data:`ANSWER_CASES` order: ``name``, ``python_us`` and
        ``cython_us`` (microseconds per call; ``cython_us`` is None when the
        extensions are not built) and ``speedup`` (python / cython, or None).
    """
    rows = []
    cases = [(label, name, args, {}) for label, name, args in CASES] + DNS_CASES + ANSWER_CASES
    for label, name, args, kwargs in cases:
        py = _module_of(name, compiled=False)
        c = _module_of(name, compiled=True)
        assert py is not None
        python_us = _per_call_us(getattr(py, name), args, n, kwargs)
        cython_us = _per_call_us(getattr(c, name), args, n, kwargs) if c is not None else None
        rows.append(
            {
                "name": label,
                "python_us": python_us,
                "cython_us": cython_us,
                "speedup": python_us / cython_us if cython_us else None,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000, help="calls per measurement (default 20000)")
    n = parser.parse_args().n
    print("| function | python µs | cython µs | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    for row in compare(n):
        cython = f"{row['cython_us']:.3f}" if row["cython_us"] is not None else "not built"
        speedup = f"{row['speedup']:.1f}×" if row["speedup"] is not None else "–"
        print(f"| `{row['name']}` | {row['python_us']:.3f} | {cython} | {speedup} |")


if __name__ == "__main__":
    main()
