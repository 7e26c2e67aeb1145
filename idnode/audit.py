"""The change-log audit behind ``idnode audit verify``: walk a data folder's hash chain, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idnode.registry import changelog
from idnode.registry.errors import StoreError
from idnode.registry.store import Store


def verify_folder(data_dir: str | Path) -> dict[str, Any]:
    """Walk the change log of ``data_dir`` from its first kept entry; a JSON-ready report.

    The first kept entry must follow the pruned marker (retention, a replica's
    snapshot), else sequence 1 and the all-zero genesis digest. LMDB is opened
    read-only without the folder lock (one read transaction), so a running
    node is neither stopped nor disturbed.

    Returns:
        ``ok``, ``anchor_sequence``/``anchor_digest`` (where the walk started),
        ``checked`` entries, ``last_sequence``/``last_digest`` (the last entry
        that verified) and ``break``: None, or the first break's ``sequence``,
        ``kind`` (gap, digest mismatch, undecodable entry), ``expected``,
        ``found`` and ``message``.

    Raises:
        StoreError: the folder holds no idnode data or cannot be opened.
    """
    if not (Path(data_dir) / "lmdb").exists():
        raise StoreError(f"{data_dir} holds no idnode data")
    store = Store(data_dir, map_size=1 << 20, lock=False, writable=False)
    try:
        anchor, walk = changelog.audit(store)
    finally:
        store.close()
    return walk_report(walk, anchor_sequence=anchor[0], anchor_digest=anchor[1].hex())


def walk_report(walk: changelog.ChainWalk, **extra: Any) -> dict[str, Any]:
    """A chain walk as JSON-ready data: ``ok``, the ``extra`` fields, ``checked``, the last good entry, the break."""
    b = walk.broken
    return {
        "ok": b is None,
        **extra,
        "checked": walk.checked,
        "last_sequence": walk.last[0],
        "last_digest": walk.last[1].hex(),
        "break": None
        if b is None
        else {"sequence": b.sequence, "kind": b.kind, "expected": b.expected, "found": b.found, "message": b.message},
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as text lines for a terminal."""
    start = f"after pruned entry {report['anchor_sequence']}" if report["anchor_sequence"] else "from genesis"
    lines = [
        f"checked {report['checked']} entries {start}: "
        f"verified up to sequence {report['last_sequence']} ({report['last_digest']})"
    ]
    b = report["break"]
    if b is None:
        lines.append("chain ok")
    else:
        lines.append(f"BREAK at sequence {b['sequence']}: {b['kind']} ({b['message']})")
        if b["expected"]:
            lines.append(f"  expected {b['expected']}")
        lines.append(f"  found    {b['found']}")
    return "\n".join(lines)
