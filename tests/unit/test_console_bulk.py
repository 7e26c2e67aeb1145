"""The bulk-upload file parser and report (resolver/http/console/bulk.py): rows in, writes or row errors out."""

from __future__ import annotations

import csv
import io
import json

import pytest

from idnode.demo import demo_template
from idnode.registry.errors import HandleError
from idnode.registry.model import IdentifierWrite, WriteOutcome
from idnode.resolver.http.console import bulk

PREFIX = "88.118.8"
TEMPLATE = demo_template(PREFIX)  # URL@1 productName@2 model@3 productionDate@4 GTIN@5 batchNo@6 (all fixed)
GOOD = "suffix,URL,productName,model\nP-1,https://e.example/1,Pump,DP-1\n"


def parse(text: str | bytes, file_format: str = "csv", template=TEMPLATE, **kw) -> list[bulk.Row]:
    data = text.encode() if isinstance(text, str) else text
    return bulk.parse(data, file_format=file_format, prefix=PREFIX, template=template, **kw)


def refused(text: str | bytes, **kw) -> bulk.FileRefused:
    with pytest.raises(bulk.FileRefused) as info:
        parse(text, **kw)
    return info.value


def values(row: bulk.Row) -> dict[int, tuple[str, str]]:
    assert isinstance(row.item, IdentifierWrite), row.item
    return {v.index: (v.type, v.text) for v in row.item.values}


def test_csv_suffix_rows_use_the_template_indexes_and_version():
    (row,) = parse(GOOD)
    assert (row.number, row.handle) == (2, "88.118.8/P-1")
    assert values(row) == {1: ("URL", "https://e.example/1"), 2: ("productName", "Pump"), 3: ("model", "DP-1")}
    assert row.item.template_version == TEMPLATE.version


def test_csv_handle_column_index_type_columns_bom_and_trimming():
    text = "\ufeffHandle , 7:EMAIL ,productName\r\n 88.118.8/Q-1 , a@b.example , 电机 \r\n88.118.9/Q-2,,X\r\n"
    first, second = parse(text)
    assert values(first) == {7: ("EMAIL", "a@b.example"), 2: ("productName", "电机")}
    assert first.item.template_version == "1.0"
    # Another prefix: no template version of ours (the registry decides whether the caller may write there).
    assert (second.handle, second.item.template_version, values(second)) == (
        "88.118.9/Q-2",
        "",
        {2: ("productName", "X")},
    )


def test_csv_template_items_without_a_fixed_index_take_the_lowest_free_ones():
    from idnode.registry.model import Template, TemplateItem

    template = Template(PREFIX, "2", (TemplateItem("a", index=2), TemplateItem("b"), TemplateItem("c")))
    (row,) = parse("c,suffix,b,a,1:URL\nz,S,y,x,https://u.example\n", template=template)
    assert values(row) == {1: ("URL", "https://u.example"), 2: ("a", "x"), 4: ("b", "y"), 3: ("c", "z")}


def test_csv_empty_rows_are_ignored_and_row_numbers_stay_the_spreadsheets():
    rows = parse("suffix,model\n,\nA,m\n\n , \nB,n\n")
    assert [(r.number, r.handle) for r in rows] == [(3, "88.118.8/A"), (6, "88.118.8/B")]


def test_csv_quoted_cells_with_commas_and_newlines():
    (row,) = parse('suffix,productName\nA,"Pump, big\nline two"\n')
    assert values(row)[2] == ("productName", "Pump, big\nline two")


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("suffix,model\n,m\n", 102, "row 2 has no suffix"),
        ("suffix,model\nA,m,extra\n", 4, "row 2 has 3 cells, the header only 2"),
        ("handle,model\nnot-a-handle,m\n", 102, ""),
        ("suffix,model\nA," + "x" * 300 + "\n", 202, "at most 255"),
        ("suffix,model\nA\x00,m\n", 102, ""),
    ],
)
def test_csv_bad_rows_are_rejected_on_their_own(text, code, words):
    (row,) = parse(text)
    assert isinstance(row.item, HandleError)
    assert row.item.code == code
    assert words in row.item.message
    assert row.item.handle == row.handle


def test_csv_trailing_empty_cells_are_not_extra_cells():
    (row,) = parse("suffix,model\nA,m,,\n")
    assert values(row) == {3: ("model", "m")}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "The file is empty."),
        (" \r\n\n", "The file is empty."),
        ("suffix,model\n", "The file has no rows to register."),
        ("model\nm\n", "The header row needs a column named handle or suffix."),
        ("handle,suffix\na,b\n", "The header row names both handle and suffix; keep one."),
        ("suffix,model,MODEL\na,b,c\n", "The column {column} appears more than once."),
        ("suffix,colour,weight\na,b,c\n", "Unknown columns: {columns}. Use the template's item names ({items})"),
        ("suffix,0:URL\na,b\n", "Column {column}: the index must be 1 to {limit} and not {reserved}."),
        ("suffix,1001:X\na,b\n", "Column {column}: the index must be 1 to {limit} and not {reserved}."),
        ('suffix,model\n"a,b\n', "The CSV file cannot be read at line {line}: {problem}."),
        ('suffix,model\na,"b"c\n', "The CSV file cannot be read at line {line}: {problem}."),
    ],
)
def test_csv_files_refused_as_a_whole(text, key):
    exc = refused(text)
    assert exc.text.startswith(key)
    assert exc.text in bulk.MESSAGES  # every refusal can be shown in Chinese


def test_unknown_columns_without_a_template_point_to_index_type_columns():
    exc = refused("suffix,model\na,b\n", template=None)
    assert exc.fields == {"columns": "model"}
    assert "no template" in str(exc)
    (row,) = parse("suffix,3:model\na,b\n", template=None)
    assert values(row) == {3: ("model", "b")} and row.item.template_version == ""


def test_unknown_columns_are_all_named():
    exc = refused("suffix,colour,,weight,model\na,b,,c,d\n")
    assert exc.fields["columns"] == "colour, #3, weight"
    assert "productName" in exc.fields["items"]


def test_encodings():
    gb = "suffix,productName\nA,离心泵\n".encode("gb18030")
    exc = refused(gb)
    assert exc.fields == {"encoding": "UTF-8", "offset": 22}
    (row,) = parse(gb, encoding="gb18030")
    assert values(row)[2] == ("productName", "离心泵")
    assert refused(b'{"handle":"88.118.8/A","value":[]}\n', file_format="jsonl", encoding="gb18030").text == (
        "A JSONL file must be UTF-8."
    )


def test_too_many_rows_is_refused_before_anything_is_written():
    text = "suffix,model\n" + "".join(f"S{i},m\n" for i in range(11))
    assert len(parse(text, max_rows=11)) == 11
    exc = refused(text, max_rows=10)
    assert exc.fields == {"limit": 10}
    assert str(exc) == "The file has more than 10 rows; split it into smaller files."


def test_jsonl_lines_are_enterprise_api_create_bodies():
    good = {"handle": "88.118.8/J-1", "templateVersion": "1.0", "value": [{"index": 1, "type": "URL", "data": "u"}]}
    lines = [
        json.dumps(good),
        "",
        "{not json",
        json.dumps({"handle": "88.118.8/J-2", "value": [], "colour": "red"}),
        json.dumps([1, 2]),
        json.dumps({"handle": "88.118.8/J-3", "value": [{"index": 0, "type": "URL", "data": "u"}]}),
    ]
    rows = parse("\n".join(lines) + "\n", file_format="jsonl")
    assert [r.number for r in rows] == [1, 3, 4, 5, 6]
    assert isinstance(rows[0].item, IdentifierWrite)
    assert rows[0].item.template_version == "1.0" and values(rows[0]) == {1: ("URL", "u")}
    codes = [(r.handle, r.item.code) for r in rows[1:]]
    assert codes == [("", 4), ("88.118.8/J-2", 4), ("", 4), ("88.118.8/J-3", 202)]
    assert "line 3 is not JSON" in rows[1].item.message


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("items.CSV", b"{", "csv"),
        ("items.jsonl", b"suffix", "jsonl"),
        ("items.ndjson", b"", "jsonl"),
        ("upload", b'\xef\xbb\xbf  {"handle"', "jsonl"),
        ("upload", b"suffix,model", "csv"),
    ],
)
def test_detect_format(name, data, expected):
    assert bulk.detect_format(name, data) == expected


def test_summary_counts_created_repeats_and_rejected_in_row_order():
    rows = parse("suffix,model\nA,m\nB,m\nC,m\n")
    summary = bulk.Summary(total=3)
    summary.add(
        rows,
        [
            WriteOutcome("88.118.8/A", created=True, sequence=5),
            WriteOutcome("88.118.8/B"),
            WriteOutcome("88.118.8/C", code=101, message="88.118.8/C exists with other values"),
        ],
    )
    assert summary.as_json() == {"total": 3, "processed": 3, "created": 1, "repeats": 1, "rejected": 1}
    assert summary.rejected == [bulk.Rejected(4, "88.118.8/C", 101, "88.118.8/C exists with other values")]


def test_report_csv_in_both_languages_with_formula_cells_neutralised():
    rejected = [
        bulk.Rejected(3, "88.118.8/X", 202, "value 3 (model): '' is shorter than 1 characters"),
        bulk.Rejected(9, "=HYPERLINK(1)", 102, "-bad"),
    ]
    english = bulk.report_csv(rejected, "en")
    assert english.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(english[1:]))) == [
        ["row", "handle", "code", "message"],
        ["3", "88.118.8/X", "202", "value 3 (model): '' is shorter than 1 characters"],
        ["9", "'=HYPERLINK(1)", "102", "'-bad"],
    ]
    chinese = list(csv.reader(io.StringIO(bulk.report_csv(rejected, "zh")[1:])))
    assert chinese[0] == ["行号", "标识", "代码", "原因"]
    assert chinese[1][3] == "值无效：value 3 (model): '' is shorter than 1 characters"
    assert chinese[2][3] == "标识无效：-bad"  # starts with Chinese words, so no formula guard needed
