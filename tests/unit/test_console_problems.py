"""Registry value problems as structured details, and their wording in the console's two languages."""

from __future__ import annotations

import re

import pytest

from idnode.registry import errors
from idnode.registry.errors import (
    AuthenticationFailed,
    AuthenticationNeeded,
    HandleAlreadyExists,
    HandleNotFound,
    InsufficientPermissions,
    InvalidHandle,
    InvalidValue,
    ServerBusy,
    StorageFull,
)
from idnode.registry.model import Template, TemplateItem
from idnode.registry.templates import METADATA_TYPES, check_values
from idnode.registry.values import Value
from idnode.resolver.http.console import bulk, problems

T = Template(
    "88.118.8",
    "1.0",
    (
        TemplateItem("URL", metadata_type="url", required=True, index=1),
        TemplateItem("productName", min_length=3, max_length=8),
        TemplateItem("count", metadata_type="number"),
        TemplateItem("pieces", metadata_type="integer"),
        TemplateItem("made", metadata_type="date"),
        TemplateItem("at", metadata_type="datetime"),
        TemplateItem("GTIN", metadata_type="gtin"),
        TemplateItem("mail", metadata_type="email"),
        TemplateItem("ok", metadata_type="boolean"),
    ),
)
GOOD_URL = Value(1, "URL", b"https://example.com/p")

# problem id -> (values that cause it, field, params)
CASES = {
    "required": ([], "URL", {}),
    "too_short": ([GOOD_URL, Value(2, "productName", b"ab")], "productName", {"min": 3}),
    "too_long": ([GOOD_URL, Value(2, "productName", b"x" * 9)], "productName", {"max": 8}),
    "not_number": ([GOOD_URL, Value(2, "count", b"1,5")], "count", {}),
    "not_integer": ([GOOD_URL, Value(2, "pieces", b"1.5")], "pieces", {}),
    "not_url": ([Value(1, "URL", b"javascript:alert(1)")], "URL", {}),
    "not_date": ([GOOD_URL, Value(2, "made", b"2026-02-30")], "made", {}),
    "not_datetime": ([GOOD_URL, Value(2, "at", b"noon")], "at", {}),
    "not_gtin": ([GOOD_URL, Value(2, "GTIN", b"6950000000012")], "GTIN", {}),
    "not_email": ([GOOD_URL, Value(2, "mail", b"nobody")], "mail", {}),
    "not_boolean": ([GOOD_URL, Value(2, "ok", b"yes")], "ok", {}),
    "not_in_template": ([GOOD_URL, Value(2, "colour", b"red")], 2, {"type": "colour"}),
    "wrong_index": ([Value(3, "URL", b"https://example.com/p")], "URL", {"index": 1}),
    "repeated": ([GOOD_URL, Value(2, "ok", b"true"), Value(3, "ok", b"false")], "ok", {"first": 2}),
}
ENGLISH_WORDS = re.compile(r"\b(?:Enter|Choose|This|The|is|at|characters|value|given|item)\b")


def test_every_problem_id_has_a_case_and_a_wording():
    assert set(CASES) == set(errors.PROBLEMS)
    assert set(problems.FIELD_MESSAGES) - set(errors.PROBLEMS) == {"row_incomplete", "index_used_twice"}  # editor's
    assert {f"not_{kind}" for kind in METADATA_TYPES if kind != "string"} <= set(errors.PROBLEMS)


@pytest.mark.parametrize("problem", sorted(CASES))
def test_check_values_gives_the_problem_beside_its_unchanged_english_message(problem):
    values, field, params = CASES[problem]
    with pytest.raises(InvalidValue) as caught:
        check_values(T, values, handle="88.118.8/P-1")
    exc = caught.value
    assert (exc.problem, exc.field, exc.params) == (problem, field, params)
    assert exc.handle == "88.118.8/P-1" and exc.code == 202
    assert "template 88.118.8 v1.0" in exc.message and str(exc) == exc.message
    assert set(params) == set(errors.PROBLEMS[problem])


@pytest.mark.parametrize("problem", sorted(CASES))
def test_each_problem_in_english_and_chinese(problem):
    values, _field, params = CASES[problem]
    with pytest.raises(InvalidValue) as caught:
        check_values(T, values)
    english = problems.field_message("en", caught.value)
    chinese = problems.field_message("zh", caught.value)
    assert english == problems.FIELD_MESSAGES[problem].format(**params)
    assert english != caught.value.message  # worded by the console, not the registry's text
    assert re.search(r"[\u4e00-\u9fff]", chinese) and not ENGLISH_WORDS.search(chinese), chinese
    for value in params.values():
        assert str(value) in english and str(value) in chinese


def test_a_problem_without_an_entry_shows_the_registry_message():
    exc = InvalidValue("value 3 (x): something new", field="x", problem="brand_new", params={"n": 1})
    assert problems.field_message("zh", exc) == "value 3 (x): something new"
    unfit = InvalidValue("value 3 (x): too long", field="x", problem="too_long", params={"limit": 9})
    assert problems.field_message("zh", unfit) == "value 3 (x): too long"  # params that do not fit the entry
    assert problems.field_of(exc, ["x", "y"]) == "x" and problems.field_of(exc, ["y"]) == ""
    assert problems.field_of(InvalidValue("index 4", field=4), ["4"]) == ""  # an index names no form field


def test_error_codes_and_messages_are_unchanged_by_the_new_details():
    plain = InvalidValue("bad", handle="88.118.8/A")
    assert (plain.message, plain.handle, plain.field, plain.problem, plain.params) == (
        "bad",
        "88.118.8/A",
        None,
        "",
        {},
    )
    assert errors.from_code(202, "bad").message == "bad" and HandleNotFound().message == "handle not found"


WHOLE = [
    HandleAlreadyExists("88.118.8/A exists with other values"),
    HandleNotFound("88.118.8/B not found"),
    InsufficientPermissions("auditors are read-only"),
    AuthenticationFailed("credential idn1.x was revoked"),
    AuthenticationNeeded("no credential given"),
    StorageFull("map full"),
    ServerBusy("queue full"),
    InvalidHandle("'88.118.8/' has an empty suffix"),
]


@pytest.mark.parametrize("exc", WHOLE, ids=lambda e: type(e).__name__)
def test_whole_request_errors_get_complete_sentences_in_both_languages(exc):
    english, chinese = problems.explain("en", exc), problems.explain("zh", exc)
    assert english.detail == chinese.detail == exc.message
    assert exc.message not in english and exc.message not in chinese
    assert english.endswith(".") and chinese.endswith("。")
    assert re.search(r"[\u4e00-\u9fff]", chinese) and not re.search(r"[A-Za-z]{3,}", chinese), chinese


def test_storage_full_and_busy_are_told_apart():
    assert problems.explain("en", StorageFull()) != problems.explain("en", ServerBusy())


def test_an_error_without_a_sentence_keeps_its_detail_visible():
    shown = problems.explain("zh", InvalidValue("template item 2: name is empty"))
    assert shown == "输入无效：template item 2: name is empty" and shown.detail == ""


def _rejected(exc):
    return bulk.Rejected(3, "88.118.8/P-1", exc.code, exc.message, exc)


def test_the_bulk_report_reason_uses_the_same_wording():
    with pytest.raises(InvalidValue) as caught:
        check_values(T, CASES["too_long"][0])
    row = _rejected(caught.value)
    assert bulk.reason(row, "zh") == "productName：最多输入 8 个字符。"
    assert bulk.reason(row, "en") == caught.value.message  # English: the registry's message naming the value
    taken = _rejected(HandleAlreadyExists("88.118.8/P-1 exists with other values"))
    assert bulk.reason(taken, "zh") == "该对象已存在且内容不同，未做任何更改。（88.118.8/P-1 exists with other values）"
    unworded = _rejected(InvalidValue("value 9: data is not valid hex"))
    assert bulk.reason(unworded, "zh") == "值无效：value 9: data is not valid hex"
    assert "productName：最多输入 8 个字符。" in bulk.report_csv([row], "zh")


def test_the_free_form_editors_own_checks_in_both_languages():
    from idnode.resolver.http.console import _forms

    rows = [_forms.Row(0, "1", "URL", "https://x/1"), _forms.Row(1, "1", "note", "a"), _forms.Row(2, "x", "", "b")]
    for lang, twice, incomplete in (
        ("en", "Index 1 is used twice.", "Give an index (a positive whole number), a type and the data."),
        ("zh", "索引 1 被使用了两次。", "请填写索引（正整数）、类型和数据。"),
    ):
        _, errors = _forms.values_from_free_form(rows, word=lambda exc, lang=lang: problems.field_message(lang, exc))
        assert errors == {"row-1": twice, "row-2": incomplete}
