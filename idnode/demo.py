"""Demo data for `idnode serve --demo`: an approved enterprise, its prefix,
a template and 10,000 product identifiers. Idempotent: a second run changes
nothing and prints the same enterprise token (kept in ``demo.token``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from idnode.registry import uscc
from idnode.registry.auth import Principal
from idnode.registry.model import IdentifierWrite, Template, TemplateItem
from idnode.registry.service import Registry
from idnode.registry.templates import gtin_check_digit
from idnode.registry.values import PERM_ADMIN_READ, PERM_ADMIN_WRITE, AdminData, Value

log = logging.getLogger(__name__)

_CODE_HEAD = "91110108MA01A0B2C"
DEMO_CREDIT_CODE = _CODE_HEAD + uscc.check_character(_CODE_HEAD)
DEMO_COUNT = 10_000
DEMO_TEMPLATE_VERSION = "1.0"
BOOTSTRAP = Principal("node-admin", token_id="bootstrap")


def demo_template(prefix: str) -> Template:
    return Template(
        prefix=prefix,
        version=DEMO_TEMPLATE_VERSION,
        industry_code="C3441",
        carrier_type="QR code",
        description="Demo pumps: product page, name, model, production date, GTIN, batch",
        items=(
            TemplateItem("URL", "url", True, "url", 1, 255, 1),
            TemplateItem("productName", "string", True, "string", 1, 64, 2),
            TemplateItem("model", "string", True, "string", 1, 32, 3),
            TemplateItem("productionDate", "date", False, "date", 0, 0, 4),
            TemplateItem("GTIN", "gtin", False, "gtin", 0, 0, 5),
            TemplateItem("batchNo", "string", False, "string", 1, 32, 6),
        ),
    )


def _gtin13(n: int) -> str:
    body = f"695{n:09d}"
    return body + gtin_check_digit(body)


def demo_item(prefix: str, n: int) -> IdentifierWrite:
    """The n-th demo identifier (1-based): deterministic, so re-running is idempotent."""
    suffix = f"DEMO-{n:06d}"
    values = [
        Value(1, "URL", f"https://demo.idnode.example/products/{suffix}".encode()),
        Value(2, "productName", f"Demo centrifugal pump {('A', 'B', 'C', 'D')[n % 4]}".encode()),
        Value(3, "model", f"DP-{n % 4 + 1}00".encode()),
        Value(4, "productionDate", f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}".encode()),
        Value(6, "batchNo", f"B2026-{n // 1000:03d}".encode(), permissions=PERM_ADMIN_READ | PERM_ADMIN_WRITE),
        Value(100, "HS_ADMIN", AdminData(f"{prefix}/ADMIN", 300), "admin"),
    ]
    if n % 2:
        values.append(Value(5, "GTIN", _gtin13(n).encode()))
    return IdentifierWrite(f"{prefix}/{suffix}", tuple(values), DEMO_TEMPLATE_VERSION)


async def load_demo(registry: Registry, data_dir: Path) -> tuple[str, str]:
    """Create (or confirm) the demo data; return (demo prefix, enterprise token)."""
    prefix = f"{registry.node_prefix}.8"
    await registry.add_enterprise(BOOTSTRAP, DEMO_CREDIT_CODE, "Demo Manufacturing Co., Ltd.", "ops@demo.example")
    await registry.set_enterprise_status(BOOTSTRAP, DEMO_CREDIT_CODE, "approved")
    await registry.allocate_prefix(BOOTSTRAP, DEMO_CREDIT_CODE, prefix)
    await registry.put_template(BOOTSTRAP, demo_template(prefix))
    token_path = data_dir / "demo.token"
    token = ""
    if token_path.exists():
        token = token_path.read_text().strip()
        try:
            registry.authenticate(token)
        except Exception:  # revoked or from another folder: issue a new one
            token = ""
    if not token:
        issued = await registry.create_token(BOOTSTRAP, "enterprise", DEMO_CREDIT_CODE, "demo")
        token = issued.token
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
    enterprise = registry.authenticate(token)
    batch = 2000
    for start in range(1, DEMO_COUNT + 1, batch):
        last = min(start + batch - 1, DEMO_COUNT)
        if (
            registry.lookup(prefix, f"DEMO-{last:06d}") is not None
            and registry.lookup(prefix, f"DEMO-{start:06d}") is not None
        ):
            continue
        outcomes = await registry.batch_create(enterprise, [demo_item(prefix, n) for n in range(start, last + 1)])
        failed = [o for o in outcomes if o.code != 1]
        if failed:
            raise RuntimeError(
                f"demo data: {len(failed)} identifiers failed, first: {failed[0].code} {failed[0].message}"
            )
    return prefix, token
