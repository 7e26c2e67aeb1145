"""The load test's key file (the seeded handles and the registration user's credentials) and Zipf key choice.

``idnode loadtest seed`` writes the key file; the Locust users read it. It is
one JSON object::

    {"format": "idnode-loadtest-keys/1", "prefix": "88.118.8", "seed": 2106023,
     "count": 100000, "registration": {"prefix": "88.118.99", "token": "idn1....",
     "credit_code": "..."}, "handles": ["88.118.8/JXDY2106023", ...]}

A plain text file with one handle per line (what ``idnode export`` piped
through ``jq -r .handle`` gives) is read as well; it has no registration
credentials, so the registration user then needs ``--reg-token`` and
``--reg-prefix``. No Locust or gevent import here: the seed command and the
unit tests use this module too.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from idnode.loadtest import datagen

__all__ = [
    "FORMAT",
    "UNKNOWN_BASE",
    "KeyFile",
    "Registration",
    "ZipfPicker",
    "read_keys",
    "unknown_handle",
    "write_keys",
]

FORMAT = "idnode-loadtest-keys/1"
UNKNOWN_BASE = 10**12  # datagen items from here on are never seeded


@dataclasses.dataclass(frozen=True, slots=True)
class Registration:
    """The enterprise the registration user writes as: its prefix and API token."""

    prefix: str
    token: str
    credit_code: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class KeyFile:
    """Seeded handles (in generation order) and, when known, how they were generated."""

    handles: tuple[str, ...]
    prefix: str = ""
    seed: int | None = None
    count: int = 0
    registration: Registration | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "prefix": self.prefix,
            "seed": self.seed,
            "count": self.count,
            "registration": dataclasses.asdict(self.registration) if self.registration else None,
            "handles": list(self.handles),
        }


def write_keys(path: str | os.PathLike[str], keys: KeyFile) -> None:
    """Write ``keys`` as JSON, mode 0600 (it holds a token), replacing ``path`` only once complete."""
    final = Path(path)
    partial = final.with_name(final.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(keys.to_json(), out, ensure_ascii=False)
            out.write("\n")
        partial.replace(final)
    finally:
        partial.unlink(missing_ok=True)


def read_keys(path: str | os.PathLike[str]) -> KeyFile:
    """Read a key file written by :func:`write_keys`, or a text file of one handle per line.

    Raises:
        ValueError: the file holds no handle, or is JSON of another shape.
        OSError: it cannot be read.
    """
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"{path}: not an idnode load-test key file (format {FORMAT!r})")
        reg = doc.get("registration")
        keys = KeyFile(
            handles=tuple(doc.get("handles") or ()),
            prefix=doc.get("prefix") or "",
            seed=doc.get("seed"),
            count=int(doc.get("count") or 0),
            registration=Registration(reg["prefix"], reg["token"], reg.get("credit_code", "")) if reg else None,
        )
    else:
        keys = KeyFile(tuple(line.strip() for line in text.splitlines() if line.strip()))
    if not keys.handles:
        raise ValueError(f"{path}: no handles")
    return keys


class ZipfPicker:
    """Choose among ``items`` with Zipf-like weights: the item of rank ``k`` (1-based) has weight ``1 / k**s``.

    Ranks are a fixed shuffle of the items (``order_seed``), so the hot keys
    are spread over the key space rather than being the first ones seeded.
    ``exponent`` 0 is uniform; about 1 is the classic Zipf law of popularity
    (a few hot products, a long tail); larger is more skewed.
    """

    __slots__ = ("_cum", "_items", "_rng")

    def __init__(
        self, items: Sequence[str], exponent: float = 1.0, rng: random.Random | None = None, order_seed: int = 8
    ) -> None:
        if not items:
            raise ValueError("no items to choose from")
        if exponent < 0:
            raise ValueError(f"Zipf exponent must be >= 0, got {exponent}")
        ranked = list(items)
        random.Random(order_seed).shuffle(ranked)
        self._items = ranked
        self._cum = list(itertools.accumulate(1.0 / (k**exponent) for k in range(1, len(ranked) + 1)))
        self._rng = rng or random.Random()

    def rank_share(self, top: int) -> float:
        """The probability that a choice is one of the ``top`` hottest items."""
        top = max(0, min(top, len(self._cum)))
        return self._cum[top - 1] / self._cum[-1] if top else 0.0

    def choose(self) -> str:
        return self._items[bisect.bisect_left(self._cum, self._rng.random() * self._cum[-1])]

    def sample(self, count: int) -> list[str]:
        """``count`` independent choices (repeats allowed, as in real batches of scans)."""
        return [self.choose() for _ in range(count)]


def unknown_handle(keys: KeyFile, rng: random.Random) -> str:
    """A handle that is certainly not on the node, shaped like the seeded ones.

    For a generated key file: a :mod:`datagen` item far past any seeded range
    (item ``n`` is unique per ``n``); else a suffix no generator produces.
    """
    if keys.seed is not None and keys.prefix:
        return datagen.handle_of(UNKNOWN_BASE + rng.randrange(UNKNOWN_BASE), keys.prefix, keys.seed)
    prefix = keys.handles[0].split("/", 1)[0]
    return f"{prefix}/LOADTEST-UNKNOWN-{rng.getrandbits(64):016x}"
