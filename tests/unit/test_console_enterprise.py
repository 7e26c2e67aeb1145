"""Console enterprise pages (resolver/http/console/enterprise.py, _forms.py): browse, one identifier, the
template-driven register/edit/delete form and the free-form editor, on a real loopback server over a seeded
registry. Every write is checked in the registry itself, and every refused one for having changed nothing."""

from __future__ import annotations

import html
import re

import pytest

from idnode.demo import demo_template
from idnode.registry.errors import HandleDeleted, HandleNotFound
from idnode.registry.model import IdentifierWrite
from idnode.registry.values import Value

PRODUCT = "88.118.8/JXDY2106023"
GOOD = {
    "item-0": "https://example.com/p/NEW-1",  # URL, required, index 1
    "item-1": "Centrifugal pump",  # productName, required, 1..64
    "item-2": "CP-100",  # model, required, 1..32
    "item-3": "2026-05-04",  # productionDate
    "item-4": "6950000000019",  # GTIN (valid check digit)
    "item-5": "",  # batchNo, optional
}


@pytest.fixture
async def with_template(seeded):
    admin = seeded.principals["admin"]
    return await seeded.registry.put_template(admin, demo_template("88.118.8"))


ENGLISH_WORDS = re.compile(r"\b(?:enter|is|not|the|at|value|characters|longer|shorter|required|missing|valid)\b", re.I)


def _field_error(page: str, field_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field_id}-error" role="alert">([^<]*)</p>', page)
    return html.unescape(match.group(1)) if match else ""


async def _post(console, path: str, csrf: str, **data: str):
    return await console.post(path, data={"csrf_token": csrf, **data}, allow_redirects=False)


async def _register(console, csrf: str, suffix: str, **fields: str):
    """Post the demo template's registration form for ``88.118.8/<suffix>``: :data:`GOOD` with ``fields`` changed."""
    data = {"prefix": "88.118.8", "suffix": suffix, "template_version": "1.0", **GOOD, **fields}
    return await _post(console, "/console/identifier/new", csrf, **data)


async def _edit(console, csrf: str, handle: str, **fields: str):
    data = {"handle": handle, "template_version": "1.0", **GOOD, **fields}
    return await _post(console, "/console/identifier/edit", csrf, **data)


def _exists(registry, handle: str) -> bool:
    from idnode.registry.auth import Principal

    try:
        registry.get_record(Principal("node-admin", token_id="0123456789abcdef"), handle)
    except (HandleNotFound, HandleDeleted):
        return False
    return True


async def test_browse_lists_the_prefix_by_suffix_start_in_pages(console, console_sign_in, seeded):
    owner = seeded.owner
    for n in range(30):
        await seeded.registry.create(owner, IdentifierWrite(f"88.118.8/P-{n:02d}", (Value(1, "URL", b"https://x/1"),)))
    await console_sign_in("owner")
    page = await (await console.get("/console/identifiers?prefix=88.118.8&q=P-")).text()
    shown = re.findall(r'<a href="/console/identifier\?handle=88.118.8%2F(P-\d\d)">', page)
    assert shown == [f"P-{n:02d}" for n in range(25)]
    nxt = re.search(r'<a href="([^"]+)" rel="next">', page).group(1)
    page = await (await console.get(html.unescape(nxt))).text()
    assert re.findall(r'handle=88.118.8%2F(P-\d\d)"', page) == [f"P-{n:02d}" for n in range(25, 30)]
    assert 'rel="next"' not in page and "First page" in page
    prev = re.search(r'<a href="([^"]+)" rel="prev" id="previous-page">', page).group(1)
    assert "before=P-25" in prev
    page = await (await console.get(html.unescape(prev))).text()  # back to the first page, whole
    assert re.findall(r'handle=88.118.8%2F(P-\d\d)"', page) == [f"P-{n:02d}" for n in range(25)]
    assert 'rel="prev"' not in page and "First page" not in page and "after=P-24" in page
    for n in range(30, 60):
        await seeded.registry.create(owner, IdentifierWrite(f"88.118.8/P-{n:02d}", (Value(1, "URL", b"https://x/1"),)))
    page = await (await console.get("/console/identifiers?prefix=88.118.8&q=P-&before=P-55")).text()  # the middle
    assert re.findall(r'handle=88.118.8%2F(P-\d\d)"', page) == [f"P-{n:02d}" for n in range(30, 55)]
    assert "before=P-30" in page and "after=P-54" in page and "First page" in page
    assert "JXDY2106023" in await (await console.get("/console/identifiers?prefix=88.118.8&q=JX")).text()
    # another enterprise's prefix: the registry refuses, the page says so
    reply = await console.get("/console/identifiers?prefix=88.118.9")
    assert reply.status == 403 and "does not own prefix 88.118.9" in await reply.text()


async def test_one_identifier_shows_private_values_to_its_owner_only(console, console_sign_in, seeded):
    await console_sign_in("owner")
    page = await (await console.get(f"/console/identifier?handle={PRODUCT}")).text()
    assert "+86 591 0000000" in page  # contact.phone is private (1100): its owner sees it
    assert "<code>1100</code>" in page and "Private" in page and "<code>1110</code>" in page
    assert "电机" in page and 'id="edit-link"' in page
    await console_sign_in("stranger")
    page = await (await console.get(f"/console/identifier?handle={PRODUCT}")).text()
    assert "sales@example.com" in page and "+86 591 0000000" not in page  # public values only
    await console_sign_in("auditor")
    page = await (await console.get(f"/console/identifier?handle={PRODUCT}")).text()
    assert "+86 591 0000000" in page and 'id="edit-link"' not in page  # auditors read, never write
    reply = await console.get("/console/identifier/new?prefix=88.118.8")
    assert reply.status == 403
    reply = await console.get("/console/identifier?handle=88.118.8/NOPE")
    assert reply.status == 404 and reply.content_type == "text/html"


async def test_the_template_form_carries_the_browser_rules(console, console_sign_in, with_template):
    await console_sign_in("owner")
    page = await (await console.get("/console/identifier/new?prefix=88.118.8")).text()
    url = re.search(r'<input id="item-0"[^>]*>', page).group(0)
    assert 'type="url"' in url and " required" in url and 'minlength="1"' in url and 'maxlength="255"' in url
    assert 'pattern="' in url
    assert 'type="date"' in re.search(r'<input id="item-3"[^>]*>', page).group(0)
    gtin = re.search(r'<input id="item-4"[^>]*>', page).group(0)
    assert 'pattern="[0-9]{8}|[0-9]{12,14}"' in gtin and " required" not in gtin
    assert 'name="template_version" value="1.0"' in page
    assert all(f'<label for="item-{n}">' in page for n in range(6))


async def test_register_through_the_template_form(console, console_sign_in, seeded, with_template):
    csrf = await console_sign_in("owner")
    reply = await _register(console, csrf, "NEW-1", **{"item-2-private": "on"})
    assert reply.status == 303, await reply.text()
    assert reply.headers["Location"] == "/console/identifier?handle=88.118.8%2FNEW-1"
    record = seeded.registry.get_record(seeded.owner, "88.118.8/NEW-1")
    assert record.template_version == "1.0"
    by_type = {v.type: v for v in record.values}
    assert by_type["URL"].index == 1 and by_type["GTIN"].index == 5 and by_type["GTIN"].text == "6950000000019"
    assert not by_type["model"].public_read and by_type["productName"].public_read
    assert by_type["HS_ADMIN"].index == 100 and "batchNo" not in by_type
    page = await (await console.get(reply.headers["Location"])).text()
    assert "Registered 88.118.8/NEW-1." in page and "Centrifugal pump" in page


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("item-4", "6950000000012", "Enter a GTIN: 8, 12, 13 or 14 digits with a valid check digit."),
        ("item-0", "javascript:alert(1)", "Enter an http, https or ftp URL with a host."),
        ("item-1", "", "This field is required."),
        ("item-2", "M" * 33, "Enter at most 32 characters."),
        ("item-3", "2026-02-30", "Enter a valid date (YYYY-MM-DD)."),
    ],
)
async def test_the_server_puts_its_error_next_to_the_field_and_keeps_the_values(
    console, console_sign_in, seeded, with_template, field, value, expected
):
    csrf = await console_sign_in("owner")
    reply = await _register(console, csrf, "BAD-1", **{field: value})
    assert reply.status == 400
    page = await reply.text()
    assert _field_error(page, field) == expected
    assert 'aria-invalid="true"' in re.search(rf'<input id="{field}"[^>]*>', page).group(0)
    assert 'value="Centrifugal pump"' in page or field == "item-1"  # what was entered is kept
    assert 'value="BAD-1"' in page
    assert not _exists(seeded.registry, "88.118.8/BAD-1")


async def test_field_errors_in_chinese(console, console_sign_in, seeded, with_template):
    csrf = await console_sign_in("owner")
    reply = await console.post(
        "/console/identifier/new?lang=zh",
        data={
            "csrf_token": csrf,
            "prefix": "88.118.8",
            "suffix": "BAD-2",
            "template_version": "1.0",
            **{**GOOD, "item-4": "6950000000012"},
        },
    )
    page = await reply.text()
    assert reply.status == 400
    assert _field_error(page, "item-4") == "请输入 GTIN：8、12、13 或 14 位数字且校验位正确。"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("item-2", "M" * 33, "最多输入 32 个字符。"),  # the template's maximum
        ("item-1", "x" * 300, "最多输入 255 个字符。"),  # over what a string value may hold at all (values.py)
        ("item-1", "", "此项为必填项。"),
        ("item-3", "2026-13-01", None),
    ],
)
async def test_a_chinese_page_shows_no_english_sentence_for_a_field_error(
    console, console_sign_in, seeded, with_template, field, value, expected
):
    csrf = await console_sign_in("owner")
    data = {"prefix": "88.118.8", "suffix": "BAD-3", "template_version": "1.0", **GOOD, field: value}
    reply = await _post(console, "/console/identifier/new?lang=zh", csrf, **data)
    page = await reply.text()
    assert reply.status == 400
    shown = _field_error(page, field)
    assert shown == (expected or "请输入有效日期（YYYY-MM-DD）。")
    form_error = re.search(r'<p class="error" role="alert" id="form-error">([^<]*)</p>', page).group(1)
    for text in (shown, html.unescape(form_error)):
        assert re.search(r"[\u4e00-\u9fff]", text) and not ENGLISH_WORDS.search(text), text
    assert "template 88.118.8" not in page and "longer than" not in page and "is missing" not in page
    assert not _exists(seeded.registry, "88.118.8/BAD-3")


async def test_an_invalid_suffix_on_a_chinese_page_is_a_sentence_with_the_technical_detail(
    console, console_sign_in, seeded, with_template
):
    csrf = await console_sign_in("owner")
    data = {"prefix": "88.118.8", "suffix": "bad\x01suffix", "template_version": "1.0", **GOOD}
    reply = await _post(console, "/console/identifier/new?lang=zh", csrf, **data)
    page = await reply.text()
    assert reply.status == 400 and _field_error(page, "suffix") == "这不是有效的后缀。"
    top = re.search(
        r'<p class="error" role="alert" id="form-error">([^<]*)</p>\s*<details class="error-detail">'
        r"<summary>技术细节</summary><p><code>([^<]+)</code>",
        page,
    )
    assert top.group(1) == "这不是有效的标识：请检查其前缀和后缀。" and "control character" in top.group(2)


async def test_a_taken_or_invalid_suffix_is_shown_at_the_suffix(console, console_sign_in, seeded, with_template):
    csrf = await console_sign_in("owner")
    reply = await _register(console, csrf, "JXDY2106023")
    assert reply.status == 409
    assert _field_error(await reply.text(), "suffix") == "An identifier with this suffix exists already."
    reply = await _register(console, csrf, "")
    assert reply.status == 400 and _field_error(await reply.text(), "suffix") == "This field is required."


async def test_another_enterprises_prefix_is_refused_by_the_registry(console, console_sign_in, seeded):
    csrf = await console_sign_in("owner")
    reply = await _post(
        console,
        "/console/identifier/new",
        csrf,
        prefix="88.118.9",
        suffix="X",
        rows="1",
        **{"row-0-index": "1", "row-0-type": "URL", "row-0-data": "https://x/y"},
    )
    assert reply.status == 403
    assert "not saved" in await reply.text()
    assert not _exists(seeded.registry, "88.118.9/X")


async def test_edit_keeps_the_values_the_form_does_not_show(console, console_sign_in, seeded, with_template):
    csrf = await console_sign_in("owner")
    assert (await _register(console, csrf, "ED-1")).status == 303
    page = await (await console.get("/console/identifier/edit?handle=88.118.8/ED-1")).text()
    assert 'value="CP-100"' in page and 'value="6950000000019"' in page
    reply = await _edit(console, csrf, "88.118.8/ED-1", **{"item-2": "CP-200", "item-4": ""})
    assert reply.status == 303
    record = seeded.registry.get_record(seeded.owner, "88.118.8/ED-1")
    by_type = {v.type: v for v in record.values}
    assert by_type["model"].text == "CP-200" and "GTIN" not in by_type and "HS_ADMIN" in by_type
    reply = await _edit(console, csrf, "88.118.8/ED-1", **{"item-1": ""})
    assert reply.status == 400 and _field_error(await reply.text(), "item-1") == "This field is required."
    assert seeded.registry.get_record(seeded.owner, "88.118.8/ED-1") == record  # nothing changed


async def test_free_form_editor_without_a_template(console, console_sign_in, seeded):
    csrf = await console_sign_in("owner")
    page = await (await console.get(f"/console/identifier/edit?handle={PRODUCT}")).text()
    assert 'value="productName"' in page and 'value="HS_ADMIN"' not in page  # HS_ADMIN is not editable here
    rows = {
        "rows": "2",
        "row-0-index": "1",
        "row-0-type": "URL",
        "row-0-data": "https://example.com/free",
        "row-1-index": "7",
        "row-1-type": "note",
        "row-1-data": "<script>alert(1)</script>",
        "row-1-private": "on",
    }
    reply = await _post(console, "/console/identifier/new", csrf, prefix="88.118.8", suffix="FREE-1", **rows)
    assert reply.status == 303, await reply.text()
    record = seeded.registry.get_record(seeded.owner, "88.118.8/FREE-1")
    note = next(v for v in record.values if v.type == "note")
    assert note.index == 7 and not note.public_read and note.text == "<script>alert(1)</script>"
    page = await (await console.get("/console/identifier?handle=88.118.8/FREE-1")).text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    bad = {**rows, "row-1-index": "x"}
    reply = await _post(console, "/console/identifier/new", csrf, prefix="88.118.8", suffix="FREE-2", **bad)
    assert reply.status == 400 and "Give an index" in _field_error(await reply.text(), "row-1")
    assert not _exists(seeded.registry, "88.118.8/FREE-2")
    twice = {**rows, "row-1-index": "1"}  # the editor's own checks speak the page's language too
    reply = await _post(console, "/console/identifier/new?lang=zh", csrf, prefix="88.118.8", suffix="FREE-2", **twice)
    assert reply.status == 400 and _field_error(await reply.text(), "row-1") == "索引 1 被使用了两次。"
    assert not _exists(seeded.registry, "88.118.8/FREE-2")


async def test_delete_asks_first_then_deletes(console, console_sign_in, seeded):
    csrf = await console_sign_in("owner")
    page = await (await console.get(f"/console/identifier/delete?handle={PRODUCT}")).text()
    assert 'id="confirm-delete"' in page and 'name="csrf_token"' in page
    assert _exists(seeded.registry, PRODUCT)  # the confirmation page changes nothing
    reply = await _post(console, "/console/identifier/delete", "0" * 64, handle=PRODUCT)
    assert reply.status == 403 and _exists(seeded.registry, PRODUCT)  # CSRF
    reply = await _post(console, "/console/identifier/delete", csrf, handle=PRODUCT)
    assert reply.status == 303 and reply.headers["Location"] == "/console/identifiers?prefix=88.118.8"
    assert not _exists(seeded.registry, PRODUCT)
    assert "Deleted 88.118.8/JXDY2106023." in await (await console.get(reply.headers["Location"])).text()
