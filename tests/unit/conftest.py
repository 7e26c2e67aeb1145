"""A real registry (real LMDB in a temporary folder) seeded through the facade
for the read-path tests (test_pipeline.py, test_grpc_server.py)."""

from __future__ import annotations

import dataclasses

import pytest

from idnode import _fastpath
from idnode.registry.auth import ANONYMOUS, Principal
from idnode.registry.model import IdentifierWrite
from idnode.registry.service import Registry
from idnode.registry.uscc import check_character
from idnode.registry.values import AdminData, Value

ADMIN = Principal("node-admin", token_id="0123456789abcdef")  # the bootstrap actor that seeds the data
OWNER = "91350100M000100Y4" + check_character("91350100M000100Y4")  # owns 88.118.8
STRANGER = "91110000600037341" + check_character("91110000600037341")  # owns 88.118.9

PUBLIC = 0b1110
PRIVATE = 0b1100

PRODUCT_VALUES = (
    Value(1, "URL", b"https://example.com/p/JXDY2106023", permissions=PUBLIC),
    Value(2, "productName", "电机".encode(), permissions=PUBLIC),
    Value(3, "contact.email", b"sales@example.com", permissions=PUBLIC),
    Value(4, "contact.phone", b"+86 591 0000000", permissions=PRIVATE),
    Value(100, "HS_ADMIN", AdminData("88.118.8/ADMIN", 300), format="admin", permissions=PRIVATE),
)
SECRET_VALUES = (Value(1, "note", b"internal", permissions=PRIVATE),)


@dataclasses.dataclass(frozen=True, slots=True)
class Seeded:
    """The seeded registry and the real principals and bearer tokens of its users.

    Handles: ``88.118.8/JXDY2106023`` (:data:`PRODUCT_VALUES`),
    ``88.118.8/SECRET`` (:data:`SECRET_VALUES`, nothing public) and
    ``88.118.8/GONE`` (created, then deleted: a tombstone), all owned by
    :data:`OWNER`. ``product`` and ``secret`` are the values as stored (the
    registry stamps each with the write time).
    """

    registry: Registry
    principals: dict[str, Principal]  # anonymous, owner, stranger, admin, auditor
    tokens: dict[str, str]  # owner, stranger, admin, auditor
    product: tuple[Value, ...]
    secret: tuple[Value, ...]

    @property
    def owner(self) -> Principal:
        return self.principals["owner"]

    def put_raw(self, handle: str, raw: bytes) -> None:
        """Store ``raw`` as the record of ``handle``, bypassing the facade (corruption)."""
        key = _fastpath.handle_key(*_fastpath.parse_handle(handle))
        self.registry.writer.run(lambda ctx: ctx.put("identifiers", key, raw))


async def approved_enterprise(registry: Registry, code: str, prefix: str) -> str:
    """Register and approve an enterprise, allocate it ``prefix``; its API token."""
    await registry.add_enterprise(ADMIN, code, f"Enterprise {code[-4:]}", "ops@example.com")
    await registry.set_enterprise_status(ADMIN, code, "approved")
    await registry.allocate_prefix(ADMIN, code, prefix)
    return (await registry.create_token(ADMIN, "enterprise", code, "test")).token


def stored_values(registry: Registry, handle: str, written: tuple[Value, ...]) -> tuple[Value, ...]:
    """The values of ``handle`` as stored, checked against those written."""
    stored = registry.get_record(ADMIN, handle).values
    assert len(stored) == len(written)
    assert all(s.same_content(w) and s.timestamp > 0 for s, w in zip(stored, written, strict=True))
    return stored


@pytest.fixture
def counting():
    """Metrics on in this process for one test (declared once, in the default registry; a fresh tally)."""
    from idnode import metrics

    saved = metrics._TALLY
    metrics.process_started()
    try:
        yield metrics.tally()
    finally:
        metrics._TALLY = saved


@pytest.fixture
async def registered_today(registry: Registry) -> None:
    """Registrations for the day-counter tests (test_sync_stats.py, test_console_dashboard.py): one approved
    enterprise owning 88.118.8 and 88.118.9 creates five identifiers under 88.118.8 (one then deleted, which
    does not uncount it) and one under 88.118.9, all today; the counters say 5 and 1."""
    code = "91440300192203821" + check_character("91440300192203821")
    owner = Principal("enterprise", credit_code=code, token_id="fedcba9876543210")
    await registry.add_enterprise(ADMIN, code, "Enterprise", "ops@example.com")
    await registry.set_enterprise_status(ADMIN, code, "approved")
    for prefix in ("88.118.8", "88.118.9"):
        await registry.allocate_prefix(ADMIN, code, prefix)
    for i in range(5):
        await registry.create(owner, IdentifierWrite(f"88.118.8/S{i}", (Value(1, "URL", b"https://s/"),)))
    await registry.create(owner, IdentifierWrite("88.118.9/S0", (Value(1, "URL", b"https://s/"),)))
    await registry.delete(owner, "88.118.8/S0")


@pytest.fixture
async def seeded(registry: Registry) -> Seeded:
    tokens = {
        "owner": await approved_enterprise(registry, OWNER, "88.118.8"),
        "stranger": await approved_enterprise(registry, STRANGER, "88.118.9"),
        "admin": (await registry.create_token(ADMIN, "node-admin", label="test")).token,
        "auditor": (await registry.create_token(ADMIN, "auditor", label="test")).token,
    }
    principals = {"anonymous": ANONYMOUS} | {name: registry.authenticate(t) for name, t in tokens.items()}
    owner = principals["owner"]
    await registry.create(owner, IdentifierWrite("88.118.8/JXDY2106023", PRODUCT_VALUES))
    await registry.create(owner, IdentifierWrite("88.118.8/SECRET", SECRET_VALUES))
    await registry.create(owner, IdentifierWrite("88.118.8/GONE", PRODUCT_VALUES[:1]))
    await registry.delete(owner, "88.118.8/GONE")
    return Seeded(
        registry=registry,
        principals=principals,
        tokens=tokens,
        product=stored_values(registry, "88.118.8/JXDY2106023", PRODUCT_VALUES),
        secret=stored_values(registry, "88.118.8/SECRET", SECRET_VALUES),
    )


@pytest.fixture
async def client(seeded, tmp_path):
    """A test client of the node's HTTP app over the seeded registry, on a real loopback server
    (test_http_handles.py, test_fuzz_http.py: all examples of a Hypothesis test share it)."""
    from aiohttp.test_utils import TestClient, TestServer

    from idnode.resolver.http.server import RUNNER_ARGS, build_app
    from idnode.settings import Settings

    server = TestServer(build_app(seeded.registry, Settings(data_dir=tmp_path)))
    await server.start_server(**RUNNER_ARGS)
    async with TestClient(server) as client:
        yield client


@pytest.fixture
async def console(seeded, tmp_path):
    """A test client of the node's HTTP app (with the web console) over the seeded registry, on loopback;
    its cookie jar keeps the console's cookies like a browser."""
    from aiohttp.test_utils import TestClient, TestServer

    from idnode.resolver.http.server import RUNNER_ARGS, build_app
    from idnode.settings import Settings

    server = TestServer(build_app(seeded.registry, Settings(data_dir=tmp_path)))
    await server.start_server(**RUNNER_ARGS)
    async with TestClient(server) as client:
        yield client


@pytest.fixture
def console_sign_in(console, seeded):
    """``await console_sign_in(who)``: sign the ``console`` client in as a seeded user (or with a token);
    returns the CSRF token its forms must carry."""
    import re

    async def sign_in(who: str) -> str:
        console.session.cookie_jar.clear()
        token = seeded.tokens.get(who, who)
        reply = await console.post("/console/signin", data={"credential": token}, allow_redirects=False)
        assert reply.status == 303, await reply.text()
        page = await (await console.get("/console/")).text()
        match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
        assert match, page[:500]
        return match.group(1)

    return sign_in
