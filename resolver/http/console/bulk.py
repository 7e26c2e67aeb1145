"""Bulk-registration files (CSV, JSONL) into registry writes, and the rejected-rows report, without I/O.

The console's upload page (``upload.py``) reads the file and calls the
registry; everything it decides about the file's content is here:

- :func:`parse` turns the file's bytes into one :class:`Row` per data row,
  each holding an :class:`IdentifierWrite` or the ``HandleError`` that row
  gets (the registry's ``batch_create`` reports such an item as that error),
  or raises :class:`FileRefused` when the file as a whole cannot be used
  (empty, not text in the chosen encoding, unknown columns, too many rows):
  then nothing is written.
- :func:`report_csv` is the downloadable report of rejected rows.

CSV: a header row naming ``handle`` (the whole identifier) or ``suffix``
(under the prefix chosen on the page), then one column per template item
name (its value goes to the item's index; items without a fixed index take
the lowest free ones) and/or ``index:type`` columns such as ``7:EMAIL``.
Cells are trimmed; an empty cell gives no value; rows with only empty cells
are ignored. Rows under the chosen prefix are checked against its latest
template version (recorded with the identifier), as the console's form does.

JSONL: one enterprise-API create body per line
(``{"handle": ..., "value": [...], "templateVersion": ...}``, as
``POST /identityv2/data/create`` takes it); blank lines are ignored.

Text is UTF-8 (a byte-order mark is allowed) or, for CSV only, GB18030 (what
Excel saves as "CSV" on Chinese Windows) when the page says so: the
encoding is never guessed, because almost any bytes decode as GB18030.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from idnode import _fastpath
from idnode.registry.errors import HandleError, InvalidHandle, ProtocolError
from idnode.registry.model import IdentifierWrite, Template, WriteOutcome
from idnode.registry.values import MAX_INDEX, TEMPLATE_VERSION_INDEX, Value
from idnode.resolver.http.console import problems
from idnode.resolver.http.enterprise_api import decode_create

__all__ = [
    "ENCODINGS",
    "FORMATS",
    "MAX_ROWS",
    "MESSAGES",
    "FileRefused",
    "Rejected",
    "Row",
    "Summary",
    "detect_format",
    "parse",
    "reason",
    "report_csv",
]

MAX_ROWS = 50_000  # data rows per file: at most 25 registry batches of 2000
FORMATS = ("csv", "jsonl")
ENCODINGS = ("utf-8", "gb18030")
_INDEX_TYPE = re.compile(r"^(\d{1,10}):(.+)$")
_HANDLE_COLUMNS = ("handle", "suffix")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell as a formula

# Every text a FileRefused or a row error of this module may carry, and the report's words (English -> 中文).
MESSAGES = {
    "The file is empty.": "文件为空。",
    'The file is not {encoding} text (byte {offset} cannot be decoded). Save it as UTF-8 (Excel: "CSV UTF-8") '
    "or choose the GB18030 encoding for a CSV file.": (
        "文件不是 {encoding} 文本（第 {offset} 字节无法解码）。请另存为 UTF-8（Excel：“CSV UTF-8”），"
        "或为 CSV 文件选择 GB18030 编码。"
    ),
    "A JSONL file must be UTF-8.": "JSONL 文件必须是 UTF-8 编码。",
    "The file has more than {limit} rows; split it into smaller files.": ("文件超过 {limit} 行，请拆分成较小的文件。"),
    "The file has no rows to register.": "文件中没有要注册的行。",
    "The CSV file cannot be read at line {line}: {problem}.": "CSV 文件第 {line} 行无法读取：{problem}。",
    "The header row needs a column named handle or suffix.": "标题行需要一列名为 handle 或 suffix。",
    "The header row names both handle and suffix; keep one.": "标题行同时含有 handle 和 suffix，请只保留一个。",
    "The column {column} appears more than once.": "列 {column} 出现了不止一次。",
    "Unknown columns: {columns}. Use the template's item names ({items}) or index:type columns such as 7:EMAIL.": (
        "未知的列：{columns}。请使用模板的项名称（{items}）或 index:type 形式的列，例如 7:EMAIL。"
    ),
    "Unknown columns: {columns}. This prefix has no template: use index:type columns such as 7:EMAIL.": (
        "未知的列：{columns}。该前缀没有模板，请使用 index:type 形式的列，例如 7:EMAIL。"
    ),
    "Column {column}: the index must be 1 to {limit} and not {reserved}.": (
        "列 {column}：索引必须在 1 到 {limit} 之间，且不能是 {reserved}。"
    ),
    "row": "行号",
    "handle": "标识",
    "code": "代码",
    "message": "原因",
}
# The Handle codes a rejected row may carry, in Chinese words: a Chinese report's reason starts with them, then
# gives the registry's own (English) message, which names the value and the rule.
CODE_WORDS = {
    2: "服务器错误",
    3: "服务器繁忙",
    4: "行格式错误",
    100: "未找到",
    101: "标识已存在且值不同",
    102: "标识无效",
    200: "值不存在",
    201: "值已存在",
    202: "值无效",
    301: "本节点不服务该前缀",
    401: "无权限",
    402: "需要登录",
    403: "身份验证失败",
}


class FileRefused(Exception):
    """The file as a whole cannot be registered; nothing was written.

    ``text`` is the English catalog key (:data:`MESSAGES`), ``fields`` its
    ``{name}`` values, so the page shows it in its own language.
    """

    def __init__(self, text: str, **fields: object) -> None:
        super().__init__(text.format(**fields) if fields else text)
        self.text = text
        self.fields = fields


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One data row: its number in the file (CSV: the spreadsheet row, header = 1; JSONL: the line), the
    handle as given, and what to send to the registry (a write, or the error that rejects the row)."""

    number: int
    handle: str
    item: IdentifierWrite | HandleError


@dataclasses.dataclass(frozen=True, slots=True)
class Rejected:
    """A row the registry (or the file check) refused: Handle code and message (English, as raised)."""

    row: int
    handle: str
    code: int
    message: str
    error: HandleError | None = dataclasses.field(default=None, compare=False)  # for a localized reason


@dataclasses.dataclass(slots=True)
class Summary:
    """Counts so far: rows processed of ``total``, created, identical repeats (nothing written), rejected."""

    total: int
    processed: int = 0
    created: int = 0
    repeats: int = 0
    rejected: list[Rejected] = dataclasses.field(default_factory=list)

    def add(self, rows: Sequence[Row], outcomes: Sequence[WriteOutcome]) -> None:
        """Count one batch's outcomes (in the order of ``rows``)."""
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome.code != 1:
                self.rejected.append(Rejected(row.number, row.handle, outcome.code, outcome.message, outcome.error))
            elif outcome.created:
                self.created += 1
            else:
                self.repeats += 1
        self.processed += len(rows)

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "processed": self.processed,
            "created": self.created,
            "repeats": self.repeats,
            "rejected": len(self.rejected),
        }


def detect_format(filename: str, data: bytes) -> str:
    """``jsonl`` for ``.jsonl``/``.ndjson``/``.json`` names, ``csv`` for ``.csv``/``.txt``; otherwise ``jsonl``
    when the first non-blank character is ``{``, else ``csv``."""
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".csv", ".txt")):
        return "csv"
    return "jsonl" if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def _decode(data: bytes, encoding: str) -> str:
    try:
        text = data.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        raise FileRefused(
            "The file is not {encoding} text (byte {offset} cannot be decoded). Save it as UTF-8 "
            '(Excel: "CSV UTF-8") or choose the GB18030 encoding for a CSV file.',
            encoding=encoding.upper(),
            offset=exc.start + 1,
        ) from None
    if not text.strip():
        raise FileRefused("The file is empty.")
    return text


def parse(
    data: bytes,
    *,
    file_format: str,
    prefix: str,
    template: Template | None,
    encoding: str = "utf-8",
    max_rows: int = MAX_ROWS,
) -> list[Row]:
    """The file's data rows, each a write or the error that rejects it.

    Args:
        data: the file's bytes.
        file_format: ``csv`` or ``jsonl`` (:func:`detect_format`).
        prefix: the prefix chosen on the page (normalised); CSV ``suffix`` rows go under it.
        template: its latest template (None when it has none): names the CSV item columns and checks their rows.
        encoding: ``utf-8`` (a BOM is skipped) or ``gb18030`` (CSV only).
        max_rows: at most this many data rows.

    Raises:
        FileRefused: empty, undecodable, unreadable CSV, a bad header, no data rows, or more than ``max_rows``.
    """
    if file_format == "jsonl" and encoding != "utf-8":
        raise FileRefused("A JSONL file must be UTF-8.")
    text = _decode(data, encoding)
    rows = _jsonl_rows(text, max_rows) if file_format == "jsonl" else _csv_rows(text, prefix, template, max_rows)
    if not rows:
        raise FileRefused("The file has no rows to register.")
    return rows


def _too_many(count: int, max_rows: int) -> None:
    if count > max_rows:
        raise FileRefused("The file has more than {limit} rows; split it into smaller files.", limit=max_rows)


def _jsonl_rows(text: str, max_rows: int) -> list[Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        _too_many(len(rows) + 1, max_rows)
        handle = ""
        try:
            try:
                body = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise ProtocolError(f"line {number} is not JSON: {getattr(exc, 'msg', exc)}") from None
            if isinstance(body, dict) and isinstance(body.get("handle"), str):
                handle = body["handle"]
            item: IdentifierWrite | HandleError = decode_create(body)
        except HandleError as exc:
            exc.handle = exc.handle or handle
            item = exc
        rows.append(Row(number, handle, item))
    return rows


@dataclasses.dataclass(frozen=True, slots=True)
class _Column:
    position: int
    index: int
    type: str


def _columns(header: list[str], template: Template | None) -> tuple[int, str, list[_Column]]:
    """(position of handle/suffix, which of the two, the value columns) from the header row."""
    names = [cell.strip() for cell in header]
    seen: set[str] = set()
    for name in names:
        if name and name.lower() in seen:
            raise FileRefused("The column {column} appears more than once.", column=name)
        seen.add(name.lower())
    keys = [i for i, name in enumerate(names) if name.lower() in _HANDLE_COLUMNS]
    if not keys:
        raise FileRefused("The header row needs a column named handle or suffix.")
    if len(keys) > 1:
        raise FileRefused("The header row names both handle and suffix; keep one.")
    items = {item.name: item for item in template.items} if template else {}
    fixed: list[tuple[int, int, str]] = []  # (position, index, type)
    floating: list[tuple[int, str]] = []
    unknown = []
    for position, name in enumerate(names):
        if position == keys[0] or (not name and all(not n for n in names[position:])):
            continue
        match = _INDEX_TYPE.match(name)
        if name in items:
            if items[name].index:
                fixed.append((position, items[name].index, name))
            else:
                floating.append((position, name))
        elif match:
            index = int(match.group(1))
            if not 0 < index <= MAX_INDEX or index == TEMPLATE_VERSION_INDEX:
                raise FileRefused(
                    "Column {column}: the index must be 1 to {limit} and not {reserved}.",
                    column=name,
                    limit=MAX_INDEX,
                    reserved=TEMPLATE_VERSION_INDEX,
                )
            fixed.append((position, index, match.group(2).strip()))
        else:
            unknown.append(name or f"#{position + 1}")
    if unknown and items:
        raise FileRefused(
            "Unknown columns: {columns}. Use the template's item names ({items}) or index:type columns such as "
            "7:EMAIL.",
            columns=", ".join(unknown),
            items=", ".join(items),
        )
    if unknown:
        raise FileRefused(
            "Unknown columns: {columns}. This prefix has no template: use index:type columns such as 7:EMAIL.",
            columns=", ".join(unknown),
        )
    taken = {index for _, index, _ in fixed} | {TEMPLATE_VERSION_INDEX}
    columns = [_Column(position, index, vtype) for position, index, vtype in fixed]
    free = (i for i in range(1, MAX_INDEX) if i not in taken)
    columns += [_Column(position, next(free), vtype) for position, vtype in floating]
    return keys[0], names[keys[0]].lower(), sorted(columns, key=lambda c: c.position)


def _csv_rows(text: str, prefix: str, template: Template | None, max_rows: int) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # a stray quote is an error, not data
    rows: list[Row] = []
    try:
        header = next(reader, None)
        if header is None:
            raise FileRefused("The file is empty.")
        key, key_name, columns = _columns(header, template)
        width = len(header)
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            _too_many(len(rows) + 1, max_rows)
            rows.append(_csv_row(number, cells, width, key, key_name, columns, prefix, template))
    except csv.Error as exc:
        raise FileRefused(
            "The CSV file cannot be read at line {line}: {problem}.", line=reader.line_num, problem=str(exc)
        ) from None
    return rows


def _csv_row(
    number: int,
    cells: list[str],
    width: int,
    key: int,
    key_name: str,
    columns: Iterable[_Column],
    prefix: str,
    template: Template | None,
) -> Row:
    given = cells[key].strip() if key < len(cells) else ""
    handle = f"{prefix}/{given}" if key_name == "suffix" and given else given
    try:
        if not given:
            raise InvalidHandle(f"row {number} has no {key_name}")
        if any(cell.strip() for cell in cells[width:]):
            raise ProtocolError(f"row {number} has {len(cells)} cells, the header only {width}")
        row_prefix = _fastpath.parse_handle(handle)[0]
        values = tuple(
            Value(column.index, column.type, cells[column.position].strip().encode())
            for column in columns
            if column.position < len(cells) and cells[column.position].strip()
        )
        version = template.version if template is not None and row_prefix == prefix else ""
        item: IdentifierWrite | HandleError = IdentifierWrite(handle, values, version)
    except HandleError as exc:  # InvalidHandle, InvalidValue (a value the registry could never store), ProtocolError
        exc.handle = exc.handle or handle
        item = exc
    return Row(number, handle, item)


def reason(rejected: Rejected, lang: str) -> str:
    """A rejected row's reason in ``lang``, worded as the console's forms word it (``problems.report_reason``:
    a value problem named by its item, a whole-request error's sentence); otherwise, in Chinese, the code's words
    first, then the registry's (English) message, and in English the registry's message."""
    worded = problems.report_reason(lang, rejected.error) if rejected.error is not None else ""
    if worded:
        return worded
    words = CODE_WORDS.get(rejected.code)
    return f"{words}：{rejected.message}" if lang == "zh" and words else rejected.message


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def report_csv(rejected: Iterable[Rejected], lang: str) -> str:
    """The rejected rows as CSV (row, handle, Handle code, reason in ``lang``), with a UTF-8 byte-order mark so
    spreadsheet programs read Chinese text right; cells that would start a formula get a leading ``'``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    head = ("row", "handle", "code", "message")
    writer.writerow([MESSAGES[word] if lang == "zh" else word for word in head])
    for r in rejected:
        writer.writerow([r.row, _cell(r.handle), r.code, _cell(reason(r, lang))])
    return "\ufeff" + out.getvalue()
