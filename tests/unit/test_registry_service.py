"""The registry facade on a real store: enterprises, prefixes, templates,
tokens, identifier writes, batches, permissions, tombstones, restart."""

from __future__ import annotations

import pytest

from idnode import _fastpath
from idnode.registry import changelog
from idnode.registry.auth import ANONYMOUS, Principal
from idnode.registry.errors import (
    AuthenticationFailed,
    AuthenticationNeeded,
    HandleAlreadyExists,
    HandleDeleted,
    HandleNotFound,
    InsufficientPermissions,
    InvalidHandle,
    InvalidValue,
    ServerNotResponsible,
    ValueAlreadyExists,
    ValuesNotFound,
)
from idnode.registry.model import IdentifierUpdate, IdentifierWrite, Template, TemplateItem
from idnode.registry.uscc import check_character
from idnode.registry.values import PERM_ADMIN_READ, PERM_ADMIN_WRITE, Value

ADMIN = Principal("node-admin", token_id="0123456789abcdef")
CODE_A = "91440300192203821" + check_character("91440300192203821")
CODE_B = "91110108MA01A0B2D" + check_character("91110108MA01A0B2D")

URL = Value(1, "URL", b"https://a.example/1")
SECRET = Value(2, "note", b"internal", permissions=PERM_ADMIN_READ | PERM_ADMIN_WRITE)


async def enterprise(registry, code, prefix, approve=True):
    await registry.add_enterprise(ADMIN, code, f"Enterprise {code[-4:]}", "ops@example.com")
    if approve:
        await registry.set_enterprise_status(ADMIN, code, "approved")
    await registry.allocate_prefix(ADMIN, code, prefix)
    issued = await registry.create_token(ADMIN, "enterprise", code, "test")
    return registry.authenticate(issued.token), issued


@pytest.fixture
async def two(registry):
    a, _ = await enterprise(registry, CODE_A, "88.118.8")
    b, _ = await enterprise(registry, CODE_B, "88.118.9")
    return registry, a, b


async def test_register_resolve_and_idempotent_retry(two):
    registry, a, _ = two
    first = await registry.create(a, IdentifierWrite("88.118.8/JX-1", (URL, SECRET)))
    assert first.created and first.code == 1 and first.sequence > 0
    again = await registry.create(a, IdentifierWrite("88.118.8/JX-1", (URL, SECRET)))
    assert again.code == 1 and not again.created and again.sequence == 0
    with pytest.raises(HandleAlreadyExists) as info:
        await registry.create(a, IdentifierWrite("88.118.8/JX-1", (Value(1, "URL", b"https://other"),)))
    assert info.value.code == 101
    record = registry.get_record(a, "88.118.8/JX-1")
    assert [v.index for v in record.values] == [1, 2]
    assert all(v.timestamp > 0 for v in record.values)


async def test_anonymous_sees_only_public_values(two):
    registry, a, b = two
    await registry.create(a, IdentifierWrite("88.118.8/P", (URL, SECRET)))
    assert [v.type for v in registry.get_record(ANONYMOUS, "88.118.8/P").values] == ["URL"]
    assert [v.type for v in registry.get_record(b, "88.118.8/P").values] == ["URL"]  # B does not own 88.118.8
    assert [v.type for v in registry.get_record(a, "88.118.8/P").values] == ["URL", "note"]
    assert [v.type for v in registry.get_record(Principal("auditor", token_id="x"), "88.118.8/P").values] == [
        "URL",
        "note",
    ]


@pytest.mark.parametrize(
    "who, handle, error",
    [
        ("anonymous", "88.118.8/X", AuthenticationNeeded),
        ("b", "88.118.8/X", InsufficientPermissions),  # B writes under A's prefix
        ("auditor", "88.118.8/X", InsufficientPermissions),
        ("a", "88.118.77/X", InsufficientPermissions),  # unallocated prefix
        ("a", "20.500/X", ServerNotResponsible),  # not this node's
        ("admin", "88.118.8/X", None),
        ("a", "88.118.8/X", None),
    ],
)
async def test_write_permission_matrix(two, who, handle, error):
    registry, a, b = two
    principal = {
        "anonymous": ANONYMOUS,
        "a": a,
        "b": b,
        "admin": ADMIN,
        "auditor": Principal("auditor", token_id="1111111111111111"),
    }[who]
    item = IdentifierWrite(handle, (URL,))
    if error is None:
        assert (await registry.create(principal, item)).created
    else:
        with pytest.raises(error):
            await registry.create(principal, item)
        assert registry.lookup(*_fastpath.parse_handle(handle)) is None


async def test_pending_and_suspended_enterprises_cannot_register(registry):
    pending, _ = await enterprise(registry, CODE_A, "88.118.8", approve=False)
    with pytest.raises(InsufficientPermissions, match="is pending, not approved"):
        await registry.create(pending, IdentifierWrite("88.118.8/X", (URL,)))
    await registry.set_enterprise_status(ADMIN, CODE_A, "approved")
    await registry.create(pending, IdentifierWrite("88.118.8/X", (URL,)))
    await registry.set_enterprise_status(ADMIN, CODE_A, "suspended")
    with pytest.raises(InsufficientPermissions, match="is suspended"):
        await registry.create(pending, IdentifierWrite("88.118.8/Y", (URL,)))


async def test_revoked_token_fails(registry):
    _, issued = await enterprise(registry, CODE_A, "88.118.8")
    assert await registry.revoke_token(ADMIN, issued.token_id) is True
    with pytest.raises(AuthenticationFailed, match="revoked"):
        registry.authenticate(issued.token)
    assert await registry.revoke_token(ADMIN, issued.token_id) is False
    with pytest.raises(AuthenticationFailed):
        registry.authenticate(issued.token[:-2] + "xx")
    with pytest.raises(AuthenticationFailed):
        registry.authenticate("idn1.0000000000000000.nope")


async def test_update_modes(two):
    registry, a, _ = two
    h = "88.118.8/U"
    await registry.create(a, IdentifierWrite(h, (URL,)))
    await registry.update(a, IdentifierUpdate(h, "add", (Value(5, "X", b"5"),)))
    with pytest.raises(ValueAlreadyExists):
        await registry.update(a, IdentifierUpdate(h, "add", (Value(5, "X", b"again"),)))
    await registry.update(a, IdentifierUpdate(h, "modify", (Value(5, "X", b"five"),)))
    with pytest.raises(ValuesNotFound):
        await registry.update(a, IdentifierUpdate(h, "modify", (Value(6, "X", b"6"),)))
    assert {v.index: v.data for v in registry.get_record(a, h).values} == {1: URL.data, 5: b"five"}
    await registry.update(a, IdentifierUpdate(h, "remove", remove_indexes=(5,)))
    with pytest.raises(InvalidValue, match="at least one value"):
        await registry.update(a, IdentifierUpdate(h, "remove", remove_indexes=(1,)))
    await registry.update(a, IdentifierUpdate(h, "replace", (Value(9, "Y", b"y"),)))
    assert [v.index for v in registry.get_record(a, h).values] == [9]
    with pytest.raises(HandleNotFound):
        await registry.update(a, IdentifierUpdate("88.118.8/none", "replace", (URL,)))


async def test_delete_leaves_a_tombstone(two):
    registry, a, _ = two
    await registry.create(a, IdentifierWrite("88.118.8/D", (URL,)))
    await registry.delete(a, "88.118.8/D")
    with pytest.raises(HandleDeleted, match="was deleted") as info:
        registry.get_record(ANONYMOUS, "88.118.8/D")
    assert info.value.code == 100
    with pytest.raises(HandleNotFound, match="not found"):
        registry.get_record(ANONYMOUS, "88.118.8/never")
    with pytest.raises(HandleDeleted):
        await registry.delete(a, "88.118.8/D")
    recreated = await registry.create(a, IdentifierWrite("88.118.8/D", (URL,)))
    assert recreated.created
    stats = registry.stats(ADMIN)
    row = next(r for r in stats["per_prefix"] if r["prefix"] == "88.118.8")
    assert (row["identifiers"], row["registrations"], row["deletions"], stats["tombstones"]) == (1, 2, 1, 0)


async def test_batch_with_mixed_items(two):
    registry, a, _ = two
    await registry.create(a, IdentifierWrite("88.118.8/exists", (URL,)))
    seq_before = registry.writer.sequence
    items = [
        IdentifierWrite("88.118.8/ok-1", (URL,)),
        IdentifierWrite("88.118.8/", (URL,)),  # invalid handle
        IdentifierWrite("88.118.9/b-owned", (URL,)),  # B's prefix
        IdentifierWrite("88.118.8/exists", (Value(1, "URL", b"https://changed"),)),  # conflict
        IdentifierWrite("88.118.8/dup", (URL, Value(1, "X", b"x"))),  # duplicate index
        InvalidValue("value 1 (URL): data is not valid hex", handle="88.118.8/undecodable"),
        IdentifierWrite("88.118.8/ok-2", (URL,)),
        IdentifierWrite("88.118.8/exists", (URL,)),  # identical repeat: success
    ]
    results = await registry.batch_create(a, items)
    assert [r.code for r in results] == [1, 102, 401, 101, 202, 202, 1, 1]
    assert [r.created for r in results] == [True, False, False, False, False, False, True, False]
    assert results[5].handle == "88.118.8/undecodable"
    assert "index 1 appears twice" in results[4].message
    for handle in ("88.118.9/b-owned", "88.118.8/dup"):
        assert registry.lookup(*_fastpath.parse_handle(handle)) is None
    assert registry.writer.sequence == seq_before + 2  # only the two new identifiers were logged
    with pytest.raises(InvalidValue, match="at most 2000 items"):
        await registry.batch_create(a, [IdentifierWrite(f"88.118.8/{i}", (URL,)) for i in range(2001)])


async def test_batch_update_and_delete(two):
    registry, a, _ = two
    await registry.batch_create(a, [IdentifierWrite(f"88.118.8/n{i}", (URL,)) for i in range(3)])
    upd = await registry.batch_update(
        a,
        [
            IdentifierUpdate("88.118.8/n0", "add", (Value(2, "X", b"x"),)),
            IdentifierUpdate("88.118.8/missing", "add", (Value(2, "X", b"x"),)),
            IdentifierUpdate("88.118.8/n1", "bogus"),
        ],
    )
    assert [r.code for r in upd] == [1, 100, 202]
    dele = await registry.batch_delete(a, ["88.118.8/n1", "88.118.8/n1", "bad"])
    assert [r.code for r in dele] == [1, 100, 102]


async def test_template_checks(two):
    registry, a, b = two
    template = Template(
        "88.118.8",
        "1.0",
        (
            TemplateItem("URL", "url", True, "url", 1, 100, 1),
            TemplateItem("weight", "number", False, "number"),
        ),
    )
    await registry.put_template(a, template)
    assert (await registry.put_template(a, template)).version == "1.0"  # identical repeat
    with pytest.raises(HandleAlreadyExists):
        await registry.put_template(a, Template("88.118.8", "1.0", (TemplateItem("URL"),)))
    with pytest.raises(InsufficientPermissions):
        await registry.put_template(b, Template("88.118.8", "2.0", (TemplateItem("URL"),)))
    good = IdentifierWrite("88.118.8/T1", (URL, Value(2, "weight", b"1.5")), "1.0")
    assert (await registry.create(a, good)).created
    record = registry.get_record(a, "88.118.8/T1")
    assert record.template_version == "1.0"
    assert {v.index: v.text for v in record.values}[1001] == "1.0"
    bad_cases = [
        (IdentifierWrite("88.118.8/T2", (Value(2, "weight", b"1"),), "1.0"), "required item 'URL'"),
        (IdentifierWrite("88.118.8/T3", (URL, Value(2, "weight", b"heavy")), "1.0"), "weight"),
        (IdentifierWrite("88.118.8/T4", (URL, Value(3, "colour", b"red")), "1.0"), "colour"),
        (IdentifierWrite("88.118.8/T5", (URL,), "9.9"), "template version 9.9 does not exist"),
        (IdentifierWrite("88.118.8/T6", (URL, Value(1001, "X", b"x"))), "reserved"),
    ]
    for item, fragment in bad_cases:
        with pytest.raises(InvalidValue) as info:
            await registry.create(a, item)
        assert fragment in info.value.message
        assert registry.lookup(*_fastpath.parse_handle(item.handle)) is None
    with pytest.raises(InvalidValue):  # updates are checked against the stored version too
        await registry.update(a, IdentifierUpdate("88.118.8/T1", "remove", remove_indexes=(1,)))
    assert registry.get_template(a, "88.118.8").version == "1.0"


async def test_enterprise_and_prefix_administration(registry):
    with pytest.raises(InvalidValue, match="check character"):
        await registry.add_enterprise(ADMIN, CODE_A[:-1] + ("0" if CODE_A[-1] != "0" else "1"), "X", "")
    await registry.add_enterprise(ADMIN, CODE_A, "A Co", "a@x")
    await registry.add_enterprise(ADMIN, CODE_A, "A Co", "a@x")  # idempotent
    with pytest.raises(HandleAlreadyExists):
        await registry.add_enterprise(ADMIN, CODE_A, "Other name", "a@x")
    first = await registry.allocate_prefix(ADMIN, CODE_A)
    second = await registry.allocate_prefix(ADMIN, CODE_A)
    assert (first.prefix, second.prefix) == ("88.118.1", "88.118.2")
    with pytest.raises(ServerNotResponsible):
        await registry.allocate_prefix(ADMIN, CODE_A, "88.200.1")
    with pytest.raises(HandleNotFound):
        await registry.allocate_prefix(ADMIN, CODE_B, "88.118.5")
    with pytest.raises(InvalidHandle):
        await registry.allocate_prefix(ADMIN, CODE_A, "88..1")
    # the prefix handle mirrors who administers the prefix
    admins = [v.data.handle for v in registry.get_record(ANONYMOUS, "0.NA/88.118.1").values]
    assert admins == ["88.118.1/ADMIN", "0.NA/88.118"]
    [ent] = registry.list_enterprises(ADMIN)
    assert ent.prefixes == ("88.118.1", "88.118.2") and ent.status == "pending"
    with pytest.raises(AuthenticationNeeded):
        registry.list_enterprises(ANONYMOUS)
    with pytest.raises(InsufficientPermissions):
        await registry.add_enterprise(Principal("auditor", token_id="1111111111111111"), CODE_B, "B", "")


async def test_enterprise_tokens_are_scoped(two):
    registry, a, b = two
    issued = await registry.create_token(a, "enterprise", label="ci")
    assert registry.authenticate(issued.token).credit_code == CODE_A
    with pytest.raises(InsufficientPermissions):
        await registry.create_token(a, "node-admin")
    with pytest.raises(HandleNotFound):  # B cannot see, let alone revoke, A's token
        await registry.revoke_token(b, issued.token_id)
    assert await registry.revoke_token(a, issued.token_id)


async def test_every_write_is_logged_with_its_actor(two):
    registry, a, _ = two
    before = registry.writer.sequence
    await registry.create(a, IdentifierWrite("88.118.8/L", (URL,)))
    await registry.delete(a, "88.118.8/L")
    store = registry.store
    with store.begin() as txn:
        cur = txn.cursor(db=store.dbs["changelog"])
        raws = [(int.from_bytes(k, "big"), bytes(v)) for k, v in cur]
    assert changelog.verify_chain(raws, changelog.GENESIS) == len(raws)
    entries = [changelog.decode_entry(s, r) for s, r in raws if s > before]
    assert [(e.op_name, e.actor) for e in entries] == [("create", a.actor), ("delete", a.actor)]
    assert entries[0].key == b"88.118.8\x00L"
    flags = _fastpath.decode_header(entries[1].payload)[0]
    assert flags & _fastpath.FLAG_TOMBSTONE


async def test_restart_keeps_everything(registry_factory):
    registry = registry_factory()
    a, issued = await enterprise(registry, CODE_A, "88.118.8")
    await registry.create(a, IdentifierWrite("88.118.8/keep", (URL, SECRET)))
    sequence = registry.writer.sequence
    registry_factory.close_all()
    reopened = registry_factory()
    assert reopened.writer.sequence == sequence
    a2 = reopened.authenticate(issued.token)
    assert [v.type for v in reopened.get_record(a2, "88.118.8/keep").values] == ["URL", "note"]
    assert reopened.stats(ADMIN)["identifiers"] == 1
    registry_factory.close_all()
    from idnode.registry.errors import StoreError

    with pytest.raises(StoreError, match="belongs to node prefix 88.118"):
        registry_factory(node_prefix="88.200")


async def test_long_handles_use_digested_keys(two):
    registry, a, _ = two
    long_a = "88.118.8/" + "\u4e00" * 200 + "a"
    long_b = "88.118.8/" + "\u4e00" * 200 + "b"
    await registry.create(a, IdentifierWrite(long_a, (URL,)))
    assert registry.get_record(ANONYMOUS, long_a).handle == long_a
    with pytest.raises(HandleNotFound):
        registry.get_record(ANONYMOUS, long_b)
    assert [r.handle for r in registry.export(a) if r.handle.startswith("88.118.8/\u4e00")] == [long_a]


async def test_secondary_indexes_follow_writes(two):
    registry, a, _ = two
    await registry.create(a, IdentifierWrite("88.118.8/G", (URL, Value(5, "GTIN", b"6950000000019"))))
    assert registry.find_by("GTIN", "6950000000019") == ["88.118.8/G"]
    await registry.update(a, IdentifierUpdate("88.118.8/G", "modify", (Value(5, "GTIN", b"6950000000026"),)))
    assert registry.find_by("GTIN", "6950000000019") == []
    await registry.delete(a, "88.118.8/G")
    assert registry.find_by("GTIN", "6950000000026") == []


def index_keys(registry, db="idx_gtin"):
    """The index as (text, handle) pairs, in key order."""
    with registry.store.begin() as txn:
        keys = [bytes(k) for k in txn.cursor(db=registry.store.dbs[db]).iternext(values=False)]
    return [(text.decode(), _fastpath.key_handle(idkey)) for text, _, idkey in (k.partition(b"\x00") for k in keys)]


SGTIN_URN = Value(6, "SGTIN", b"urn:epc:id:sgtin:0614141.032260.6789")  # GTIN-14 00614141322602


async def test_gtin_index_keys_are_gtin14_and_follow_writes(two):
    registry, a, _ = two
    h = "88.118.8/G"
    await registry.create(
        a, IdentifierWrite(h, (URL, Value(5, "GTIN", b"614141322602"), SGTIN_URN, Value(7, "GTIN", b"no-gtin")))
    )
    # GTIN-12 and the SGTIN share one GTIN-14 key; text without a GTIN-14 keeps its raw key
    assert index_keys(registry) == [("00614141322602", h), ("no-gtin", h)]
    await registry.update(a, IdentifierUpdate(h, "modify", (Value(5, "GTIN", b"6950000000019"),)))
    assert index_keys(registry) == [("00614141322602", h), ("06950000000019", h), ("no-gtin", h)]
    await registry.update(a, IdentifierUpdate(h, "remove", remove_indexes=(6,)))  # the SGTIN's key goes
    assert index_keys(registry) == [("06950000000019", h), ("no-gtin", h)]
    await registry.update(a, IdentifierUpdate(h, "replace", (URL, Value(5, "SGTIN", b"(01)10614141322609(21)7"))))
    assert index_keys(registry) == [("10614141322609", h)]
    await registry.delete(a, h)
    assert index_keys(registry) == []
    await registry.create(a, IdentifierWrite(h, (Value(5, "GTIN", b"96385074"),)))  # over the tombstone
    assert index_keys(registry) == [("00000096385074", h)]


async def test_gtin_index_is_written_in_the_record_transaction(two):
    registry, a, _ = two
    prepared = registry._prepare("88.118.8/T", (Value(5, "GTIN", b"6950000000019"),), "", need_values=True)
    seen = []

    def op(ctx):
        registry._create_one(ctx, a, prepared, {}, {})
        seen.append(ctx.get("idx_gtin", b"06950000000019\x00" + prepared.key))
        raise InvalidValue("abort after the write")

    with pytest.raises(InvalidValue, match="abort"):
        registry.writer.run(op)
    assert seen == [b""]  # visible inside the writing transaction ...
    assert index_keys(registry) == []  # ... and rolled back with the record
    with pytest.raises(HandleNotFound):
        registry.get_record(a, "88.118.8/T")


@pytest.mark.parametrize(
    "stored, query",
    [
        (b"06950000000019", "6950000000019"),  # stored GTIN-14, asked GTIN-13
        (b"6950000000019", "06950000000019"),  # and the other way round
        (b"614141322602", "00614141322602"),
        (b"urn:epc:id:sgtin:0614141.032260.6789", "614141322602"),  # stored SGTIN, asked GTIN
        (b"614141322602", "https://id.gs1.org/01/00614141322602/21/99"),  # asked by SGTIN
        (b"no-gtin", "no-gtin"),  # raw text, exact
    ],
)
async def test_find_by_normalises_gtin_text(two, stored, query):
    registry, a, _ = two
    await registry.create(a, IdentifierWrite("88.118.8/F", (Value(5, "GTIN", stored),)))
    assert registry.find_by("GTIN", query) == ["88.118.8/F"]
    assert registry.find_by("SGTIN", query) == ["88.118.8/F"]  # one index for both types
    assert registry.find_by("GTIN", "6950000000026") == []
    with pytest.raises(InvalidValue, match="no index for type 'URL'"):
        registry.find_by("URL", query)


async def test_snapshot_finds_live_handles_in_key_order_up_to_a_limit(two):
    registry, a, b = two
    gtin = Value(5, "GTIN", b"6950000000019")
    oid = Value(6, "OID", b"1.2.156.86.1")
    await registry.batch_create(a, [IdentifierWrite(f"88.118.8/k{i}", (gtin, oid)) for i in (3, 1, 2, 4)])
    await registry.create(b, IdentifierWrite("88.118.9/k0", (Value(5, "SGTIN", b"0106950000000019217"), oid)))
    await registry.delete(a, "88.118.8/k2")
    live = ["88.118.8/k1", "88.118.8/k3", "88.118.8/k4", "88.118.9/k0"]
    with registry.snapshot() as snap:
        assert snap.find_gtin("06950000000019") == live
        assert snap.find_gtin("6950000000019") == live  # a shorter GTIN is padded
        assert snap.find_gtin("06950000000019", limit=2) == live[:2]
        assert snap.find_gtin("06950000000019", limit=0) == []
        assert snap.find_gtin("06950000000026") == []
        assert snap.find_oid("1.2.156.86.1") == live
        assert snap.find_oid("1.2.156.86.1", limit=3) == live[:3]
        assert snap.find_oid("1.2.156.86") == [] and snap.find_oid("1.2.156.86.10") == []
    await registry.batch_create(a, [IdentifierWrite(f"88.118.8/m{i:02d}", (gtin,)) for i in range(25)])
    with registry.snapshot() as snap:
        assert len(snap.find_gtin("06950000000019")) == 20  # the default limit
        assert len(snap.find_gtin("06950000000019", limit=100)) == 29


async def test_snapshot_skips_index_entries_of_tombstones(two):
    registry, a, _ = two
    await registry.create(a, IdentifierWrite("88.118.8/D", (Value(5, "GTIN", b"6950000000019"),)))
    await registry.create(a, IdentifierWrite("88.118.8/E", (Value(5, "GTIN", b"6950000000019"),)))
    key = _fastpath.handle_key("88.118.8", "D")
    await registry.delete(a, "88.118.8/D")
    # an index entry left behind (as by an older writer) does not resurrect the tombstone
    registry.writer.run(lambda ctx: ctx.put("idx_gtin", b"06950000000019\x00" + key, b""))
    with registry.snapshot() as snap:
        assert snap.find_gtin("06950000000019") == ["88.118.8/E"]
    assert registry.find_by("GTIN", "6950000000019") == ["88.118.8/E"]


async def test_snapshot_prefix_existence(two):
    registry, a, _ = two
    await registry.create(
        a,
        IdentifierWrite(
            "88.118.8/P",
            (
                Value(5, "GTIN", b"10614141322609"),  # indicator 1, then 061414132260, check 9
                Value(6, "GTIN", b"0614141999"),  # no GTIN: raw key starting with the same digits
                Value(7, "OID", b"1.2.156.86"),
            ),
        ),
    )
    with registry.snapshot() as snap:
        for digits in ("", "0", "06", "061414", "061414132260", "0614141322609"):
            assert snap.gtin_prefix_exists(digits), digits
        for digits in ("1", "6", "614141999", "0614141999", "061414132261", "06141413226090", "0x", "٠"):
            assert not snap.gtin_prefix_exists(digits), digits
        for arcs in ("1.2.156.86", "1.2.156", "1.2", "1", "1.2.", ""):
            assert snap.oid_prefix_exists(arcs), arcs
        for arcs in ("1.2.15", "1.2.156.8", "1.2.156.86.1", "2", "1.3"):
            assert not snap.oid_prefix_exists(arcs), arcs


async def test_snapshot_prefix_existence_on_empty_indexes(registry):
    with registry.snapshot() as snap:
        assert not snap.gtin_prefix_exists("")
        assert not snap.gtin_prefix_exists("0614141")
        assert not snap.oid_prefix_exists("")
        assert not snap.oid_prefix_exists("1.2")


async def test_export_is_scoped_and_ordered(two):
    registry, a, b = two
    for start in (0, 1250):
        await registry.batch_create(
            a, [IdentifierWrite(f"88.118.8/e{i:04d}", (URL,)) for i in range(start, start + 1250)]
        )
    await registry.create(b, IdentifierWrite("88.118.9/b", (URL,)))
    mine = [r.handle for r in registry.export(a)]
    assert mine == [f"88.118.8/e{i:04d}" for i in range(2500)]
    everything = [r.handle for r in registry.export(ADMIN)]
    assert "88.118.9/b" in everything and len(everything) == 2501 + 2  # plus two 0.na prefix handles
    with pytest.raises(InsufficientPermissions):
        list(registry.export(a, "88.118.9"))
