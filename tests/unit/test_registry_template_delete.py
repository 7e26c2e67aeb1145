"""Registry.delete_template: who may delete a template version, what it leaves, and its change-log entry."""

from __future__ import annotations

import pytest

from idnode.registry import changelog
from idnode.registry.auth import ANONYMOUS
from idnode.registry.errors import (
    AuthenticationNeeded,
    HandleNotFound,
    InsufficientPermissions,
    InvalidHandle,
    InvalidValue,
)
from idnode.registry.model import IdentifierUpdate, IdentifierWrite, Template, TemplateItem
from idnode.registry.store import u64
from idnode.registry.values import Value

URL = Value(1, "URL", b"https://a.example/1")
V1 = Template("88.118.8", "1.0", (TemplateItem("URL", required=True),))
V2 = Template("88.118.8", "2.0", (TemplateItem("URL"), TemplateItem("weight", metadata_type="number")))


@pytest.fixture
async def templated(seeded):
    registry, owner = seeded.registry, seeded.owner
    await registry.put_template(owner, V1)
    await registry.put_template(owner, V2)
    return seeded


async def test_the_owner_deletes_a_version_and_the_latest_moves_back(templated):
    registry, owner = templated.registry, templated.owner
    assert registry.get_template(owner, "88.118.8").version == "2.0"
    await registry.delete_template(owner, "88.118.8", "2.0")
    with pytest.raises(HandleNotFound):
        registry.get_template(owner, "88.118.8", "2.0")
    assert registry.get_template(owner, "88.118.8").version == "1.0"
    with pytest.raises(HandleNotFound, match="no template version 2.0"):  # a repeat finds nothing
        await registry.delete_template(owner, "88.118.8", "2.0")
    stored = await registry.put_template(owner, V2)  # the version may be published again
    assert stored.version == "2.0"


async def test_the_change_log_records_the_delete(templated):
    registry, owner = templated.registry, templated.owner
    before = registry.store.last_sequence()
    await registry.delete_template(owner, "88.118.8", "1.0")
    assert registry.store.last_sequence() == before + 1
    entry = changelog.decode_entry(before + 1, registry.store.get("changelog", u64(before + 1)))
    assert (entry.op, entry.db, entry.key, entry.payload) == (changelog.OP_DELETE, "templates", b"88.118.8\x001.0", b"")


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("anonymous", AuthenticationNeeded),
        ("auditor", InsufficientPermissions),
        ("stranger", InsufficientPermissions),
    ],
)
async def test_others_may_not_delete(templated, who, error):
    registry = templated.registry
    with pytest.raises(error):
        await registry.delete_template(templated.principals[who], "88.118.8", "1.0")
    assert registry.get_template(templated.owner, "88.118.8", "1.0").version == "1.0"


async def test_the_node_admin_may_delete(templated):
    await templated.registry.delete_template(templated.principals["admin"], "88.118.8", "1.0")
    with pytest.raises(HandleNotFound):
        templated.registry.get_template(templated.owner, "88.118.8", "1.0")


async def test_unknown_prefixes_and_versions(templated):
    registry, owner = templated.registry, templated.owner
    with pytest.raises(InvalidHandle):
        await registry.delete_template(owner, "88/118", "1.0")
    with pytest.raises(HandleNotFound, match="not allocated"):
        await registry.delete_template(templated.principals["admin"], "88.118.77", "1.0")
    for version in ("", "9.9"):
        with pytest.raises(HandleNotFound):
            await registry.delete_template(owner, "88.118.8", version)
    with pytest.raises(AuthenticationNeeded):
        await registry.delete_template(ANONYMOUS, "88.118.77", "1.0")


async def test_identifiers_of_a_deleted_version_must_name_another_on_update(templated):
    registry, owner = templated.registry, templated.owner
    await registry.create(owner, IdentifierWrite("88.118.8/T1", (URL,), "1.0"))
    await registry.delete_template(owner, "88.118.8", "1.0")
    assert registry.get_record(owner, "88.118.8/T1").template_version == "1.0"  # the identifier stays
    with pytest.raises(InvalidValue, match="template version 1.0 does not exist"):
        await registry.update(owner, IdentifierUpdate("88.118.8/T1", "replace", (URL,)))
    await registry.update(owner, IdentifierUpdate("88.118.8/T1", "replace", (URL,), template_version="2.0"))
    assert registry.get_record(owner, "88.118.8/T1").template_version == "2.0"


async def test_list_templates_gives_every_version_oldest_first(templated):
    registry, owner = templated.registry, templated.owner
    assert [t.version for t in registry.list_templates(owner, "88.118.8")] == ["1.0", "2.0"]
    assert registry.list_templates(owner, "88.118.9") == []  # a prefix without templates
    await registry.delete_template(owner, "88.118.8", "1.0")
    assert [t.version for t in registry.list_templates(owner, "88.118.8")] == ["2.0"]
    with pytest.raises(AuthenticationNeeded):
        registry.list_templates(ANONYMOUS, "88.118.8")
    with pytest.raises(InvalidHandle):
        registry.list_templates(owner, "88.118.8/x")
