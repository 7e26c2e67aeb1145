"""Deterministic generator of realistic product identifiers for benchmarks and load tests.

Item ``n`` of a seed is a pure function of ``(seed, n)``: the same seed gives
the same identifiers in any order, any process, any slice, so a load process
can rebuild the handles a node holds without reading them back, and handles
past the loaded range are known to be unknown to the node.

Suffixes follow the shapes factories print on carriers, each carrying ``n``
so no two items collide:

=================  ===========================================
industry code      ``JXDY2106023`` (letters, yymm, serial)
dotted             ``C3441.DP200.20260102.000123``
GS1 element        ``01.06951234567892.21.K7Q0042`` (GTIN + serial)
path-like          ``sn/2026/W12/Ab-x00042``
mixed              ``Lot_2026-03_x7Yq.00042``
=================  ===========================================

Every item holds 3 to 6 values that pass the demo template
(:func:`idnode.demo.demo_template`): URL, productName and model always;
productionDate, GTIN (a valid GS1 check digit) and batchNo (admin-only
sometimes) some of the time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from idnode.demo import DEMO_TEMPLATE_VERSION
from idnode.registry.model import IdentifierWrite
from idnode.registry.templates import gtin_check_digit
from idnode.registry.values import PERM_ADMIN_READ, PERM_ADMIN_WRITE, Value

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_SEED",
    "generate",
    "gtin_with_check",
    "handle_of",
    "item",
    "prepare_registry",
    "suffix_of",
    "to_json_line",
    "to_pb",
    "write_jsonl",
]

DEFAULT_PREFIX = "88.118.8"
DEFAULT_SEED = 2106023
_MASK = (1 << 64) - 1
_UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: printed codes avoid them
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789abcdefghjkmnpqrstuvwxyz"
_INDUSTRY = ("C3441", "C3442", "C3811", "C3824", "C3971", "C4012")
_PRODUCTS = (
    "Centrifugal pump",
    "Gear reducer",
    "Servo motor",
    "Frequency converter",
    "Hydraulic valve",
    "Pressure transmitter",
    "PLC module",
    "Bearing unit",
    "电机",
    "离心泵",
)
_MODELS = ("DP200", "GR-45", "SM_750W", "FC.3PH.7K5", "HV/20-B", "PT100x", "S7-1214C", "BU_6205-2RS")
_HOSTS = ("www.example-pumps.cn", "id.factory.example", "products.example.com", "trace.example.org")


def _mix(seed: int, n: int, salt: int) -> int:
    """64 well-mixed bits from ``(seed, n, salt)`` (splitmix64 finaliser): cheap and stable across runs."""
    z = (seed * 0x9E3779B97F4A7C15 + n * 0xBF58476D1CE4E5B9 + salt * 0x94D049BB133111EB) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _pick(bits: int, choices: str | tuple[str, ...], count: int = 1) -> str:
    out = []
    for _ in range(count):
        out.append(choices[bits % len(choices)])
        bits //= len(choices)
    return "".join(out)


def gtin_with_check(body: str) -> str:
    """``body`` (7, 11, 12 or 13 digits) followed by its GS1 mod-10 check digit."""
    return body + gtin_check_digit(body)


def suffix_of(n: int, seed: int = DEFAULT_SEED) -> str:
    """The suffix of item ``n``: one of five carrier shapes, unique per ``n``.

    Each shape starts with a marker no other shape can start with, and each
    encodes ``n`` in full, so suffixes of one seed never collide.
    """
    h = _mix(seed, n, 1)
    shape = h % 5
    h >>= 3
    year, month = 20 + h % 7, 1 + (h >> 3) % 12
    if shape == 0:  # industry code: 4 letters + yymm + serial, e.g. JXDY2106023
        return f"{_pick(h >> 8, _UPPER, 4)}{year:02d}{month:02d}{n:03d}"
    if shape == 1:  # dotted: industry.model.date.serial
        day = 1 + (h >> 8) % 28
        return f"{_pick(h >> 13, _INDUSTRY)}.{_MODELS[(h >> 17) % 3][:5]}.20{year:02d}{month:02d}{day:02d}.{n:06d}"
    if shape == 2:  # GS1 element string: (01) GTIN-14 (21) serial
        gtin = gtin_with_check(f"0695{(h >> 8) % 10**9:09d}")
        return f"01.{gtin}.21.{_pick(h >> 40, _UPPER, 2)}{n:05d}"
    if shape == 3:  # path-like serial with mixed case
        return f"sn/20{year:02d}/W{1 + (h >> 8) % 52:02d}/{_pick(h >> 14, _ALNUM, 2)}-x{n:05d}"
    return f"Lot_20{year:02d}-{month:02d}_{_pick(h >> 8, _ALNUM, 4)}.{n:05d}"


def handle_of(n: int, prefix: str = DEFAULT_PREFIX, seed: int = DEFAULT_SEED) -> str:
    """The handle of item ``n`` (cheap: no values built)."""
    return f"{prefix}/{suffix_of(n, seed)}"


def item(n: int, prefix: str = DEFAULT_PREFIX, seed: int = DEFAULT_SEED) -> IdentifierWrite:
    """Item ``n``: its handle and 3 to 6 values, naming the demo template version."""
    suffix = suffix_of(n, seed)
    h = _mix(seed, n, 2)
    product = _PRODUCTS[h % len(_PRODUCTS)]
    model = _MODELS[(h >> 4) % len(_MODELS)]
    host = _HOSTS[(h >> 8) % len(_HOSTS)]
    values = [
        Value(1, "URL", f"https://{host}/p/{suffix}".encode()),
        Value(2, "productName", f"{product} {model}".encode()),
        Value(3, "model", model.encode()),
    ]
    extras = (h >> 12) & 7  # which of the three optional values are present: 3..6 values in all
    if extras & 1:
        year, month, day = 2020 + (h >> 16) % 7, 1 + (h >> 20) % 12, 1 + (h >> 24) % 28
        values.append(Value(4, "productionDate", f"{year}-{month:02d}-{day:02d}".encode()))
    if extras & 2:
        values.append(Value(5, "GTIN", gtin_with_check(f"695{(h >> 29) % 10**9:09d}").encode()))
    if extras & 4:
        private = (h >> 60) & 1
        permissions = PERM_ADMIN_READ | PERM_ADMIN_WRITE if private else 0b1110
        values.append(
            Value(6, "batchNo", f"B20{(h >> 40) % 7 + 20}-{(h >> 44) % 1000:03d}".encode(), permissions=permissions)
        )
    return IdentifierWrite(f"{prefix}/{suffix}", tuple(values), DEMO_TEMPLATE_VERSION)


def generate(
    count: int, prefix: str = DEFAULT_PREFIX, seed: int = DEFAULT_SEED, start: int = 0
) -> Iterator[IdentifierWrite]:
    """Items ``start .. start + count - 1``, in order."""
    for n in range(start, start + count):
        yield item(n, prefix, seed)


async def prepare_registry(registry: Any, prefix: str = DEFAULT_PREFIX, label: str = "bench") -> str:
    """Make ``registry`` ready for these items, as ``idnode serve --demo`` does: the demo
    enterprise approved, ``prefix`` allocated to it, the demo template; return a new enterprise
    token (the principal the items are created as). Idempotent apart from the token."""
    from idnode.demo import BOOTSTRAP, DEMO_CREDIT_CODE, demo_template

    await registry.add_enterprise(BOOTSTRAP, DEMO_CREDIT_CODE, "Demo Manufacturing Co., Ltd.", "ops@demo.example")
    await registry.set_enterprise_status(BOOTSTRAP, DEMO_CREDIT_CODE, "approved")
    await registry.allocate_prefix(BOOTSTRAP, DEMO_CREDIT_CODE, prefix)
    await registry.put_template(BOOTSTRAP, demo_template(prefix))
    return (await registry.create_token(BOOTSTRAP, "enterprise", DEMO_CREDIT_CODE, label)).token


def to_pb(write: IdentifierWrite) -> object:
    """The ``registry_pb2.IdentifierWrite`` of an item (the BatchCreate form)."""
    from idnode.proto import registry_pb2

    return registry_pb2.IdentifierWrite(
        handle=write.handle, values=[v.to_pb() for v in write.values], template_version=write.template_version
    )


def to_json_line(write: IdentifierWrite) -> str:
    """The JSONL line of an item, in the shape ``idnode import`` reads (no newline)."""
    values = []
    for value in write.values:
        obj = value.to_json()
        obj.pop("timestamp", None)  # set by the node at write time
        values.append(obj)
    doc = {"handle": write.handle, "templateVersion": write.template_version, "values": values}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: str | Path, items: Iterable[IdentifierWrite]) -> int:
    """Write items as an importable JSONL file; return how many were written."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for write in items:
            out.write(to_json_line(write) + "\n")
            count += 1
    return count
