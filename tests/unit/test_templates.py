"""Metadata templates: validation, value checks per metadata type, JSON round trip."""

from __future__ import annotations

import pytest

from idnode.registry.errors import InvalidHandle, InvalidValue
from idnode.registry.model import Template, TemplateItem
from idnode.registry.templates import (
    METADATA_TYPES,
    check_values,
    gtin_valid,
    template_from_json,
    template_to_json,
    validate_template,
)
from idnode.registry.values import AdminData, Value


def sv(index: int, vtype: str, text: str) -> Value:
    return Value(index=index, type=vtype, data=text.encode())


def tpl(*items: TemplateItem, prefix: str = "88.118.8", version: str = "1.0") -> Template:
    return Template(prefix=prefix, version=version, items=items)


ITEM = TemplateItem("productName")


# -- validate_template ------------------------------------------------------------


def test_validate_normalises_prefix_and_returns_tuple():
    t = Template(prefix="88.ABC.8", version="1.0", items=[ITEM])  # type: ignore[arg-type]
    out = validate_template(t)
    assert out.prefix == "88.abc.8"
    assert out.items == (ITEM,)
    assert out.version == "1.0"


@pytest.mark.parametrize(
    "template",
    [
        tpl(ITEM),
        tpl(ITEM, version="v2_beta-1.0"),
        tpl(ITEM, version="x" * 32),
        tpl(*(TemplateItem(f"a{i}") for i in range(200))),
        tpl(TemplateItem("n" * 128)),
        tpl(*(TemplateItem(f"t{i}", metadata_type=m) for i, m in enumerate(METADATA_TYPES))),
        tpl(TemplateItem("a", min_length=5, max_length=5)),
        tpl(TemplateItem("a", min_length=50, max_length=0)),  # 0 = no maximum
        tpl(TemplateItem("a", index=1000), TemplateItem("b", index=1002), TemplateItem("c"), TemplateItem("d")),
        tpl(TemplateItem("产品名称")),
    ],
)
def test_validate_accepts(template):
    assert validate_template(template) == template


@pytest.mark.parametrize(
    "template, message",
    [
        (tpl(ITEM, version=""), "version is empty"),
        (tpl(ITEM, version="x" * 33), "version has 33 characters, at most 32"),
        (tpl(ITEM, version="1.0 beta"), "version '1.0 beta' may only use"),
        (tpl(ITEM, version="1/0"), "may only use letters"),
        (tpl(), "has no items"),
        (tpl(*(TemplateItem(f"a{i}") for i in range(201))), "has 201 items, at most 200"),
        (tpl(ITEM, TemplateItem("x"), ITEM), "item 2 (productName): name already used by item 0"),
        (tpl(TemplateItem("")), "template item 0: name is empty"),
        (tpl(ITEM, TemplateItem("n" * 129)), "name has 129 characters, at most 128"),
        (tpl(TemplateItem("a\x00b")), "control character"),
        (tpl(TemplateItem("HS_ADMIN")), "reserved for Handle value types"),
        (tpl(TemplateItem("a", metadata_type="text")), "metadata type 'text' is not one of"),
        (tpl(TemplateItem("a", min_length=6, max_length=5)), "minLength 6 is greater than maxLength 5"),
        (tpl(TemplateItem("a", min_length=-1)), "minLength must be a non-negative integer"),
        (tpl(TemplateItem("a", index=1001)), "index 1001 is reserved for the template version"),
        (tpl(TemplateItem("a", index=-1)), "index must be an integer from 0"),
        (tpl(TemplateItem("a", index=5), TemplateItem("b", index=5)), "index 5 already fixed for item 'a'"),
        (tpl(TemplateItem("a", required="yes")), "required must be true or false"),  # type: ignore[arg-type]
        (tpl("a"), "template item 0 must be a TemplateItem"),  # type: ignore[arg-type]
    ],
)
def test_validate_rejects(template, message):
    with pytest.raises(InvalidValue) as info:
        validate_template(template)
    assert info.value.code == 202
    assert message in info.value.message


@pytest.mark.parametrize("prefix", ["", "88..8", "88.118/8", "88 118"])
def test_validate_bad_prefix_is_invalid_handle(prefix):
    with pytest.raises(InvalidHandle):
        validate_template(tpl(ITEM, prefix=prefix))


# -- check_values: template membership, index, presence ---------------------------------


SHAPE = validate_template(
    tpl(
        TemplateItem("productName", required=True, min_length=3, max_length=10),
        TemplateItem("batch", index=200),
        TemplateItem("note"),
    )
)


def test_check_values_accepts_and_ignores_hs_and_version():
    check_values(
        SHAPE,
        [
            sv(1, "productName", "abc"),
            sv(200, "batch", "B-1"),
            sv(1001, "TEMPLATE_VERSION", "1.0"),
            sv(100, "HS_SITE", "anything"),
            Value(index=300, type="HS_ADMIN", data=AdminData("88.118.8/ADMIN", 300), format="admin"),
        ],
    )


@pytest.mark.parametrize(
    "values, message",
    [
        (
            [sv(1, "productName", "abc"), sv(2, "colour", "red")],
            "type 'colour' of value 2 is not in template 88.118.8 v1.0",
        ),
        (
            [sv(1, "productName", "abc"), sv(7, "batch", "B-1")],
            "value 7 (batch): must be at index 200 (template 88.118.8 v1.0)",
        ),
        (
            [sv(1, "productName", "abc"), sv(2, "note", "x"), sv(3, "note", "y")],
            "value 3 (note): item 'note' already given at value 2",
        ),
        ([sv(2, "note", "x")], "required item 'productName' is missing (template 88.118.8 v1.0)"),
        ([], "required item 'productName' is missing"),
        (
            [sv(2, "productName", "ab")],
            "value 2 (productName): 'ab' is shorter than 3 characters (template 88.118.8 v1.0)",
        ),
        ([sv(2, "productName", "abcdefghijk")], "value 2 (productName): 'abcdefghijk' is longer than 10 characters"),
    ],
)
def test_check_values_rejects(values, message):
    with pytest.raises(InvalidValue) as info:
        check_values(SHAPE, values, handle="88.118.8/X1")
    assert info.value.code == 202
    assert info.value.handle == "88.118.8/X1"
    assert message in info.value.message


def test_lengths_count_characters_not_bytes():
    t = validate_template(tpl(TemplateItem("name", min_length=2, max_length=4)))
    check_values(t, [sv(1, "name", "产品")])
    check_values(t, [sv(1, "name", "工业互联")])
    with pytest.raises(InvalidValue, match="longer than 4 characters"):
        check_values(t, [sv(1, "name", "工业互联网")])


def test_offending_text_is_truncated_to_40_characters():
    t = validate_template(tpl(TemplateItem("n", metadata_type="integer")))
    with pytest.raises(InvalidValue) as info:
        check_values(t, [sv(1, "n", "x" * 100)])
    assert "'" + "x" * 37 + "...'" in info.value.message
    assert "x" * 38 not in info.value.message


# -- check_values: metadata types ----------------------------------------------------


TYPE_CASES = [
    # (metadata_type, good texts, bad texts)
    ("string", ["", "anything at all", "产品"], []),
    (
        "number",
        ["0", "-1", "+3", "3.14", ".5", "5.", "1e10", "-2.5E-3", "007"],
        ["", "abc", "1,5", "1.2.3", "inf", "NaN", "1e999", " 1", "1_000", "0x10", "١٢"],
    ),
    ("integer", ["0", "42", "-7", "+7", "0012345678901234567890"], ["", "4.0", "1e3", "four", " 1", "1_0", "١٢"]),
    (
        "url",
        [
            "http://example.com",
            "https://id.example.cn/a?b=c#d",
            "ftp://files.example.com/x",
            "HTTPS://EXAMPLE.COM",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
        ],
        [
            "",
            "example.com",
            "mailto:a@b.cn",
            "file:///etc/passwd",
            "http://",
            "http:///path",
            "http://exa mple.com",
            "http://[::1",
            "http://h:99999/",
            "javascript:alert(1)",
        ],
    ),
    (
        "date",
        ["2024-02-29", "2023-12-31", "1970-01-01"],
        ["", "2023-02-29", "2023-13-01", "2023-1-1", "20230101", "2023-W01-1", "2023-01-01T00:00"],
    ),
    (
        "datetime",
        [
            "2021-06-01T10:00:00",
            "2021-06-01T10:00:00Z",
            "2021-06-01T10:00:00z",
            "2021-06-01T10:00:00+08:00",
            "2021-06-01 10:00:00.123456",
            "2021-06-01",
        ],
        ["", "yesterday", "2021-06-01T25:00:00", "2021-02-30T00:00:00", "2021-06-01T10:00:00ZZ"],
    ),
    (
        "gtin",
        ["4006381333931", "73513537", "036000291452", "10012345678902", "6901234567892"],
        ["", "4006381333932", "400638133393", "123456789", "400638133393a", "40063813339311"],
    ),
    (
        "email",
        ["a@b.cn", "first.last+tag@mail.example.com"],
        ["", "a.b.cn", "@b.cn", "a@", "a@b", "a@.cn", "a@b.", "a b@c.cn", "a@b..cn", "a@b@c.cn"],
    ),
    ("boolean", ["true", "false"], ["", "True", "FALSE", "1", "yes"]),
]


def _one_item(mtype: str) -> Template:
    return validate_template(tpl(TemplateItem("v", metadata_type=mtype)))


@pytest.mark.parametrize(
    "mtype, text",
    [(m, good) for m, goods, _ in TYPE_CASES for good in goods],
)
def test_metadata_type_accepts(mtype, text):
    check_values(_one_item(mtype), [sv(5, "v", text)])


@pytest.mark.parametrize(
    "mtype, text",
    [(m, bad) for m, _, bads in TYPE_CASES for bad in bads],
)
def test_metadata_type_rejects(mtype, text):
    with pytest.raises(InvalidValue) as info:
        check_values(_one_item(mtype), [sv(5, "v", text)], handle="88.118.8/h")
    assert info.value.message.startswith(f"value 5 (v): {text!r} is not")
    assert info.value.message.endswith("(template 88.118.8 v1.0)")


def test_every_metadata_type_has_cases():
    assert {m for m, _, _ in TYPE_CASES} == set(METADATA_TYPES)


def test_non_string_format_is_checked_on_its_text():
    t = validate_template(tpl(TemplateItem("v", max_length=4)))
    check_values(t, [Value(index=1, type="v", data=b"\x01\x02", format="hex")])  # "0102"
    with pytest.raises(InvalidValue, match="'010203' is longer than 4"):
        check_values(t, [Value(index=1, type="v", data=b"\x01\x02\x03", format="hex")])


@pytest.mark.parametrize(
    "digits, ok",
    [
        ("96385074", True),
        ("4006381333931", True),
        ("4006381333930", False),
        ("00000000", True),
        ("0000000", False),
        ("", False),
        ("１２３４５６７８", False),  # full-width digits are not ASCII
        (12345670, False),
    ],
)
def test_gtin_valid(digits, ok):
    assert gtin_valid(digits) is ok


def test_gtin_every_single_digit_error_is_caught():
    good = "4006381333931"
    for pos in range(len(good)):
        for d in "0123456789":
            if d != good[pos]:
                assert not gtin_valid(good[:pos] + d + good[pos + 1 :])


# -- JSON ----------------------------------------------------------------------------


FULL = Template(
    prefix="88.118.8",
    version="1.0",
    items=(
        TemplateItem("productName", "string", True, "string", 1, 64, 0),
        TemplateItem("gtin", "gtin", False, "gtin", 0, 0, 100),
    ),
    industry_code="C3811",
    carrier_type="RFID",
    description="motors",
    created=1700000000,
)

FULL_JSON = {
    "prefix": "88.118.8",
    "version": "1.0",
    "industryCode": "C3811",
    "carrierType": "RFID",
    "description": "motors",
    "items": [
        {
            "name": "productName",
            "idType": "string",
            "required": True,
            "index": 0,
            "metadata": {"type": "string", "minLength": 1, "maxLength": 64},
        },
        {
            "name": "gtin",
            "idType": "gtin",
            "required": False,
            "index": 100,
            "metadata": {"type": "gtin", "minLength": 0, "maxLength": 0},
        },
    ],
    "created": 1700000000,
}


def test_to_json():
    assert template_to_json(FULL) == FULL_JSON


def test_from_json():
    assert template_from_json(FULL_JSON) == FULL


def test_round_trip():
    assert template_from_json(template_to_json(FULL)) == FULL
    assert template_to_json(template_from_json(FULL_JSON)) == FULL_JSON


def test_from_json_defaults_and_ignores_unknown_keys():
    t = template_from_json({"prefix": "88.1", "version": "2", "items": [{"name": "a", "extra": 1}], "x": None})
    assert t == Template(prefix="88.1", version="2", items=(TemplateItem("a"),))


def test_from_json_does_not_validate():
    # Shape is fine, rules are not: validate_template is the caller's job.
    t = template_from_json({"prefix": "88.1", "version": "", "items": []})
    assert t.items == ()
    with pytest.raises(InvalidValue):
        validate_template(t)


def _with(path: tuple, value) -> dict:
    import copy

    obj = copy.deepcopy(FULL_JSON)
    target = obj
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


_DELETE = object()


@pytest.mark.parametrize(
    "obj, message",
    [
        ([], "a template must be a JSON object, got list"),
        (_with(("prefix",), _DELETE), "template prefix is missing"),
        (_with(("prefix",), 88), "template prefix must be a string, got int"),
        (_with(("version",), 1.0), "template version must be a string, got float"),
        (_with(("items",), _DELETE), "template items is missing"),
        (_with(("items",), {"name": "a"}), "template items must be a list, got dict"),
        (_with(("items", 1), "gtin"), "template items[1] must be an object, got str"),
        (_with(("items", 0, "name"), _DELETE), "template items[0].name is missing"),
        (_with(("items", 0, "required"), "true"), "template items[0].required must be true or false, got str"),
        (_with(("items", 0, "index"), True), "template items[0].index must be an integer, got bool"),
        (_with(("items", 1, "metadata"), []), "template items[1].metadata must be an object, got list"),
        (
            _with(("items", 1, "metadata", "minLength"), "3"),
            "template items[1].metadata.minLength must be an integer, got str",
        ),
        (_with(("items", 0, "metadata", "type"), 5), "template items[0].metadata.type must be a string, got int"),
        (_with(("industryCode",), ["C", "38"]), "template industryCode must be a string, got list"),
        (_with(("created",), "2021"), "template created must be an integer, got str"),
    ],
)
def test_from_json_rejects(obj, message):
    with pytest.raises(InvalidValue) as info:
        template_from_json(obj)
    assert info.value.message == message


def test_validated_json_template_checks_values():
    t = validate_template(template_from_json(FULL_JSON))
    check_values(t, [sv(1, "productName", "motor"), sv(100, "gtin", "4006381333931")])
    with pytest.raises(InvalidValue, match=r"value 100 \(gtin\): '4006381333932' is not a GTIN"):
        check_values(t, [sv(1, "productName", "motor"), sv(100, "gtin", "4006381333932")])
