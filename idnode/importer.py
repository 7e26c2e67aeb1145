"""Streaming import of identifier files (JSONL, CSV) as ordered BatchCreate calls, and the export shape.

Parsing never raises for bad content: every identifier that cannot be parsed
becomes a reject with its line number and reason, so one bad row never stops
a million-row import. Formats:

JSONL (``.jsonl``, ``.ndjson``, ``.json``): one object per line::

    {"handle": "88.118.8/A1", "templateVersion": "v1",
     "values": [{"index": 1, "type": "URL", "data": {"format": "string", "value": "https://..."}}]}

``values`` are Handle REST JSON values (:meth:`Value.from_json`);
``templateVersion`` is optional. :func:`record_to_json` writes the same shape,
so ``idnode export`` output imports back unchanged.

CSV (``.csv``, UTF-8, a byte-order mark is ignored): a header row naming the
columns ``handle,index,type,data`` (required) and optionally
``format,ttl,permissions,template_version``; one row per value; consecutive
rows with the same handle form one identifier.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar

import grpc

from idnode._fastpath import parse_handle
from idnode.client import ClientError, error_from_rpc, metadata
from idnode.proto import registry_pb2
from idnode.registry.errors import HandleError, InvalidHandle, InvalidValue
from idnode.registry.values import (
    FORMATS,
    TEMPLATE_VERSION_INDEX,
    TEMPLATE_VERSION_TYPE,
    Value,
    check_value_set,
)

__all__ = [
    "CSV_COLUMNS",
    "CSV_REQUIRED",
    "FORMATS_BY_SUFFIX",
    "MAX_BATCH",
    "ImportAborted",
    "ImportItem",
    "ImportReject",
    "ImportSummary",
    "Reason",
    "batched",
    "detect_format",
    "dumps_line",
    "iter_items",
    "record_to_json",
    "run_import",
    "value_from_text",
]

MAX_BATCH = 2000  # the node's BatchCreate limit
CSV_REQUIRED = ("handle", "index", "type", "data")
CSV_COLUMNS = CSV_REQUIRED + ("format", "ttl", "permissions", "template_version")
FORMATS_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
# Handle codes given to rejects found while parsing (the node uses the same).
CODE_MALFORMED = 4  # ProtocolError: not JSON, wrong columns, not UTF-8, empty file
CODE_INVALID_HANDLE = InvalidHandle.code  # 102
CODE_INVALID_VALUE = InvalidValue.code  # 202
_CSV_FIELD_LIMIT = 1 << 20
# Statuses after which a BatchCreate is sent again: creates are idempotent
# (an identical repeat succeeds with created=False), so a retry is safe.
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE.name, grpc.StatusCode.RESOURCE_EXHAUSTED.name}

T = TypeVar("T")


class Reason(str):
    """A reject's message that also carries its Handle response code (``.code``)."""

    code: int

    def __new__(cls, message: str, code: int = CODE_MALFORMED) -> Reason:
        self = super().__new__(cls, message)
        self.code = code
        return self


class ImportItem(NamedTuple):
    """One identifier read from a file: ``write`` is None and ``error`` set for a reject.

    ``line`` is the 1-based line of the identifier's first row (for a reject,
    of the row at fault; 0 for the file as a whole). ``error`` is "" or a
    :class:`Reason` (a str with a ``code``).
    """

    line: int
    handle: str
    write: registry_pb2.IdentifierWrite | None
    error: str


class ImportReject(NamedTuple):
    """An identifier that was not imported, and why."""

    line: int
    handle: str
    code: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "handle": self.handle, "code": self.code, "message": self.message}


@dataclasses.dataclass
class ImportSummary:
    """Running totals of an import; :func:`run_import` returns it complete."""

    accepted: int = 0
    created: int = 0  # accepted as new identifiers (the rest were identical repeats)
    rejected: list[ImportReject] = dataclasses.field(default_factory=list)
    started: float = dataclasses.field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def processed(self) -> int:
        return self.accepted + len(self.rejected)

    @property
    def seconds(self) -> float:
        return (self.finished if self.finished is not None else time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Identifiers processed per second."""
        seconds = self.seconds
        return self.processed / seconds if seconds > 0 else 0.0


class ImportAborted(ClientError):
    """A whole BatchCreate call failed (authentication, unreachable node...); ``summary`` holds what was done."""

    def __init__(self, error: ClientError, summary: ImportSummary) -> None:
        super().__init__(error.code, error.message, error.handle, error.status)
        self.summary = summary


# -- parsing ----------------------------------------------------------------------


def detect_format(name: str | os.PathLike[str] | None, fmt: str | None = None) -> str:
    """``"csv"`` or ``"jsonl"``: ``fmt`` when given, else from the file name's extension.

    Raises:
        ValueError: an unknown format, or an extension that says nothing.
    """
    if fmt:
        low = fmt.lower()
        if low in ("jsonl", "ndjson", "json"):
            return "jsonl"
        if low == "csv":
            return "csv"
        raise ValueError(f"unknown import format {fmt!r}: expected csv or jsonl")
    suffix = Path(os.fspath(name)).suffix.lower() if name else ""
    try:
        return FORMATS_BY_SUFFIX[suffix]
    except KeyError:
        raise ValueError(
            f"cannot tell the format of {os.fspath(name) if name else 'the input'} from its name; "
            "give the format (csv or jsonl)"
        ) from None


def value_from_text(
    index: str | int,
    vtype: str,
    text: str,
    fmt: str = "string",
    ttl: str | int | None = None,
    permissions: str | None = None,
) -> Value:
    """Build a value from flat text fields (CSV cells, ``--value INDEX:TYPE:DATA``).

    ``text`` is the data as :attr:`Value.text` renders it: UTF-8 text,
    base64, hex, ``INDEX:HANDLE [PERMISSIONS12]`` for admin, and
    ``INDEX:HANDLE INDEX:HANDLE ...`` for vlist.

    Raises:
        InvalidValue (202): the message names the field at fault.
    """
    if isinstance(index, str):
        stripped = index.strip()
        if not (stripped.isdigit() and stripped.isascii()):
            raise InvalidValue(f"index {index!r} is not a number")
        index = int(stripped)
    fmt = (fmt or "string").strip().lower()
    if fmt not in FORMATS:
        raise InvalidValue(
            f"value {index} ({vtype}): unknown data format {fmt!r}, expected one of {', '.join(FORMATS)}"
        )
    payload: Any = text
    if fmt == "admin":
        head, _, perms = text.strip().partition(" ")
        ref_index, ref_handle = _split_ref(head, index, vtype)
        payload = {"index": ref_index, "handle": ref_handle, "permissions": perms.strip() or "111111111111"}
    elif fmt == "vlist":
        refs = (_split_ref(part, index, vtype) for part in text.split())
        payload = [{"index": ref_index, "handle": ref_handle} for ref_index, ref_handle in refs]
    obj: dict[str, Any] = {"index": index, "type": vtype, "data": {"format": fmt, "value": payload}}
    if ttl not in (None, ""):
        if isinstance(ttl, str):
            if not (ttl.strip().isdigit() and ttl.strip().isascii()):
                raise InvalidValue(f"value {index} ({vtype}): ttl {ttl!r} is not a number")
            ttl = int(ttl)
        obj["ttl"] = ttl
    if permissions not in (None, ""):
        obj["permissions"] = permissions.strip()  # type: ignore[union-attr]
    return Value.from_json(obj)


def _split_ref(text: str, index: int, vtype: str) -> tuple[int, str]:
    ref_index, sep, ref_handle = text.partition(":")
    if not sep or not ref_index.isdigit() or not ref_handle:
        raise InvalidValue(f"value {index} ({vtype}): expected INDEX:HANDLE, got {text!r}")
    return int(ref_index), ref_handle


def _reject(line: int, handle: str, code: int, message: str) -> ImportItem:
    return ImportItem(line, handle, None, Reason(message, code))


def _finish(line: int, handle: str, values: list[Value], template_version: str) -> ImportItem:
    """Check the handle and value set; build the write or the reject."""
    try:
        parse_handle(handle)
    except InvalidHandle as exc:
        return _reject(line, handle, CODE_INVALID_HANDLE, exc.message)
    try:
        check_value_set(values, handle)
    except InvalidValue as exc:
        return _reject(line, handle, CODE_INVALID_VALUE, exc.message)
    write = registry_pb2.IdentifierWrite(
        handle=handle, values=[v.to_pb() for v in values], template_version=template_version
    )
    return ImportItem(line, handle, write, "")


def _open_lines(
    source: str | os.PathLike[str] | IO[Any],
) -> tuple[Iterator[tuple[int, str, bool]], Callable[[], None]]:
    """Numbered text lines ``(number, text, valid)`` of a path or file (binary or text).

    A line that is not UTF-8 comes decoded with U+FFFD replacements and
    ``valid`` False, so its handle can still be named in the reject.
    """
    if isinstance(source, (str, os.PathLike)):
        handle: IO[Any] = open(source, "rb")  # noqa: SIM115 - closed by the caller's cleanup
        close = handle.close
    else:
        handle, close = source, (lambda: None)

    def lines() -> Iterator[tuple[int, str, bool]]:
        for number, raw in enumerate(handle, 1):
            valid = True
            if isinstance(raw, bytes):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text, valid = raw.decode("utf-8", "replace"), False
            else:
                text = raw
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield number, text, valid

    return lines(), close


def _iter_jsonl(lines: Iterator[tuple[int, str, bool]]) -> Iterator[ImportItem]:
    seen_any = False
    for number, text, valid in lines:
        if not text.strip():
            continue
        seen_any = True
        if valid:
            yield _parse_json_line(number, text)
        else:
            item = _parse_json_line(number, text)
            yield _reject(number, item.handle, CODE_MALFORMED, "line is not valid UTF-8")
    if not seen_any:
        yield _reject(0, "", CODE_MALFORMED, "empty file: no identifiers to import")


def _parse_json_line(number: int, text: str) -> ImportItem:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return _reject(number, "", CODE_MALFORMED, f"not valid JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:
        return _reject(number, "", CODE_MALFORMED, "not valid JSON: nested too deeply")
    if not isinstance(obj, dict):
        return _reject(number, "", CODE_MALFORMED, f"expected a JSON object, got {type(obj).__name__}")
    handle = obj.get("handle")
    if not isinstance(handle, str) or not handle:
        return _reject(number, "", CODE_INVALID_HANDLE, 'missing "handle" (text)')
    template_version = obj.get("templateVersion", obj.get("template_version", ""))
    if not isinstance(template_version, str):
        return _reject(number, handle, CODE_INVALID_VALUE, '"templateVersion" must be text')
    raw_values = obj.get("values")
    if not isinstance(raw_values, list):
        return _reject(number, handle, CODE_INVALID_VALUE, 'missing "values" (a list of Handle values)')
    values: list[Value] = []
    for position, raw in enumerate(raw_values):
        try:
            values.append(Value.from_json(raw))
        except HandleError as exc:
            return _reject(number, handle, CODE_INVALID_VALUE, f"values[{position}]: {exc.message}")
        except Exception as exc:
            return _reject(number, handle, CODE_INVALID_VALUE, f"values[{position}]: {exc}")
    return _finish(number, handle, values, template_version)


def _csv_header(row: list[str]) -> tuple[dict[str, int], str]:
    """Column positions by name, or an error message."""
    columns: dict[str, int] = {}
    for position, cell in enumerate(row):
        name = cell.strip().lower().replace("-", "_").replace(" ", "_")
        if name == "templateversion":
            name = "template_version"
        if name not in CSV_COLUMNS:
            return {}, f"unknown column {cell.strip()!r} in the header (columns: {', '.join(CSV_COLUMNS)})"
        if name in columns:
            return {}, f"column {name!r} appears twice in the header"
        columns[name] = position
    missing = [name for name in CSV_REQUIRED if name not in columns]
    if missing:
        return {}, f"missing column {', '.join(missing)} in the header (required: {', '.join(CSV_REQUIRED)})"
    return columns, ""


def _first_field(lines: list[str]) -> str:
    """The handle cell of a record csv could not parse, as well as it can be guessed."""
    text = lines[0] if lines else ""
    if text.startswith('"'):
        return text[1:].partition('"')[0].strip()
    return text.partition(",")[0].strip()


def _iter_csv(lines: Iterator[tuple[int, str, bool]]) -> Iterator[ImportItem]:
    bad_lines: set[int] = set()
    record_text: list[str] = []  # the physical lines of the record being parsed
    last_line = 0

    def text_lines() -> Iterator[str]:
        nonlocal last_line
        for number, text, valid in lines:
            last_line = number
            if not valid:
                bad_lines.add(number)
            record_text.append(text)
            yield text

    # A hex cell of a 64 KiB value is 131072 characters, csv's default limit;
    # raise the (process-wide) limit so the value model, not csv, decides.
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.reader(text_lines(), strict=True)
    columns: dict[str, int] = {}
    width = 0
    group_handle: str | None = None
    group_line = 0
    group_values: list[Value] = []
    group_versions: set[str] = set()
    group_error: ImportItem | None = None
    previous_end = 0
    data_rows = 0  # rows after the header, bad ones included

    def flush() -> ImportItem | None:
        if group_handle is None:
            return None
        if group_error is not None:
            return group_error
        if len(group_versions) > 1:
            return _reject(
                group_line,
                group_handle,
                CODE_INVALID_VALUE,
                f"rows disagree on template_version: {', '.join(sorted(group_versions))}",
            )
        version = next(iter(group_versions), "")
        return _finish(group_line, group_handle, group_values, version)

    while True:
        record_text.clear()
        problem = ""
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row, problem = None, f"not valid CSV: {exc}"
        start, previous_end = previous_end + 1, reader.line_num
        if not problem and any(line in bad_lines for line in range(start, previous_end + 1)):
            problem = "line is not valid UTF-8"
        if row is not None and all(not cell.strip() for cell in row):
            continue  # blank line
        if not columns:
            columns, header_problem = _csv_header(row) if row is not None and not problem else ({}, problem)
            if header_problem:
                yield _reject(start, "", CODE_MALFORMED, header_problem)
                return
            width = len(row)  # type: ignore[arg-type]
            continue
        data_rows += 1
        if row is None:
            handle = _first_field(record_text)
        else:
            handle = row[columns["handle"]].strip() if len(row) > columns["handle"] else ""
        if handle != group_handle:
            item = flush()
            if item is not None:
                yield item
            group_handle, group_line, group_values, group_versions, group_error = handle, start, [], set(), None
        if group_error is not None:
            continue  # this identifier is already rejected; its other rows are skipped
        if problem or row is None:
            # A row of this identifier is unreadable: reject all of it, never a part.
            group_error = _reject(start, handle, CODE_MALFORMED, problem)
            continue
        if len(row) != width:
            group_error = _reject(start, handle, CODE_MALFORMED, f"row has {len(row)} fields, the header has {width}")
            continue
        cell = {name: row[position] for name, position in columns.items()}
        try:
            value = value_from_text(
                cell["index"],
                cell["type"].strip(),
                cell["data"],
                cell.get("format", "string"),
                cell.get("ttl"),
                cell.get("permissions"),
            )
        except HandleError as exc:
            group_error = _reject(start, handle, CODE_INVALID_VALUE, exc.message)
            continue
        group_values.append(value)
        version = cell.get("template_version", "").strip()
        if version:
            group_versions.add(version)
    if not columns:
        yield _reject(0, "", CODE_MALFORMED, f"empty file: expected a header row {','.join(CSV_REQUIRED)}")
        return
    item = flush()
    if item is not None:
        yield item
    elif not data_rows:
        yield _reject(last_line or 1, "", CODE_MALFORMED, "no identifiers after the header row")


def iter_items(source: str | os.PathLike[str] | IO[Any], fmt: str | None = None) -> Iterator[ImportItem]:
    """Parse an import file lazily into :class:`ImportItem` tuples ``(line, handle, write, error)``.

    Args:
        source: a path, or an open file (binary preferred; text works).
        fmt: ``"csv"`` or ``"jsonl"``; None = from the file name's extension.

    Yields:
        One item per identifier, in file order: a ready
        ``registry_pb2.IdentifierWrite`` with ``error == ""``, or ``write is
        None`` and ``error`` a :class:`Reason` (bad JSON, bad CSV row, bad
        handle or value, not UTF-8, an empty file...). Content problems never
        raise.

    Raises:
        ValueError: the format is unknown (before anything is read).
        OSError: the file cannot be opened or read.
    """
    name = source if isinstance(source, (str, os.PathLike)) else getattr(source, "name", None)
    kind = detect_format(name if isinstance(name, (str, os.PathLike)) else None, fmt)
    lines, close = _open_lines(source)
    try:
        yield from (_iter_csv(lines) if kind == "csv" else _iter_jsonl(lines))
    finally:
        close()


def batched(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` consecutive items (the last may be shorter)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    batch: list[T] = []
    for item in iterable:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- sending ----------------------------------------------------------------------


def run_import(
    stub: Any,
    items: Iterable[ImportItem | tuple[int, str, registry_pb2.IdentifierWrite | None, str]],
    token: str | None = None,
    batch_size: int = 1000,
    in_flight: int = 4,
    progress: Callable[[ImportSummary], None] | None = None,
    *,
    timeout: float = 300.0,
    retries: int = 3,
    target: str | None = None,
) -> ImportSummary:
    """Send parsed items as BatchCreate calls, up to ``in_flight`` outstanding, results kept in file order.

    Args:
        stub: a ``RegistryStub``.
        items: from :func:`iter_items` (parse rejects pass straight through).
        token: bearer credential.
        batch_size: writes per call, 1..2000.
        in_flight: calls outstanding at once, at least 1.
        progress: called with the running summary after each settled batch.
        timeout: seconds per call.
        retries: times a call that failed as UNAVAILABLE / RESOURCE_EXHAUSTED
            is sent again (safe: an identical create is an idempotent repeat).
        target: node address for error messages.

    Returns:
        The summary: accepted count, and rejects (parse rejects and per-item
        failures, ``response_code != 1``) in file order.

    Raises:
        ImportAborted: a whole call failed for a reason other than the items
            (authentication, node unreachable after retries, ...). Calls
            already in flight are settled first, so ``summary`` is exact.
        ValueError: batch_size or in_flight out of range.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size must be 1..{MAX_BATCH}, got {batch_size}")
    if in_flight < 1:
        raise ValueError(f"in_flight must be at least 1, got {in_flight}")
    summary = ImportSummary()
    call_metadata = metadata(token)
    pending: collections.deque[tuple[list[ImportItem], registry_pb2.BatchCreateRequest, Any]] = collections.deque()

    def send(request: registry_pb2.BatchCreateRequest) -> Any:
        return stub.BatchCreate.future(request, metadata=call_metadata, timeout=timeout)

    def settle(batch: list[ImportItem], request: registry_pb2.BatchCreateRequest, future: Any) -> None:
        attempt = 0
        while True:
            try:
                response = future.result() if future is not None else registry_pb2.BatchWriteResponse()
                break
            except grpc.RpcError as err:
                error = error_from_rpc(err, target)
                if attempt >= retries or (error.status not in _TRANSIENT and error.code != 3):
                    raise error from None
                time.sleep(0.25 * 2**attempt)
                attempt += 1
                future = send(request)
        results = iter(response.results)
        sent = len(request.items)
        if len(response.results) != sent:
            raise ClientError(2, f"the node answered {len(response.results)} results for {sent} items")
        for item in batch:
            if item.write is None:
                code = getattr(item.error, "code", CODE_MALFORMED)
                summary.rejected.append(ImportReject(item.line, item.handle, code, str(item.error)))
                continue
            result = next(results)
            if result.response_code == 1:
                summary.accepted += 1
                summary.created += result.created
            else:
                summary.rejected.append(
                    ImportReject(item.line, item.handle, result.response_code, result.message or "rejected")
                )

    def drain_after(error: ClientError) -> ImportAborted:
        while pending:
            batch, request, future = pending.popleft()
            with contextlib.suppress(ClientError):
                settle(batch, request, future)
        summary.finished = time.monotonic()
        return ImportAborted(error, summary)

    for raw_batch in batched(items, batch_size):
        batch = [item if isinstance(item, ImportItem) else ImportItem(*item) for item in raw_batch]
        request = registry_pb2.BatchCreateRequest(items=[item.write for item in batch if item.write is not None])
        future = send(request) if request.items else None
        pending.append((batch, request, future))
        while len(pending) >= in_flight or (pending and pending[0][2] is None):
            try:
                settle(*pending.popleft())
            except ClientError as error:
                raise drain_after(error) from None
            if progress is not None:
                progress(summary)
    while pending:
        try:
            settle(*pending.popleft())
        except ClientError as error:
            raise drain_after(error) from None
        if progress is not None:
            progress(summary)
    summary.finished = time.monotonic()
    return summary


# -- export -----------------------------------------------------------------------


def record_to_json(record: registry_pb2.IdentifierRecord) -> dict[str, Any]:
    """One exported identifier in the JSONL import shape (``handle``, ``templateVersion``, ``values``).

    The TEMPLATE_VERSION value at index 1001 is left out when the record has
    a template version: the node writes it again from ``templateVersion``.
    """
    values = [Value.from_pb(v) for v in record.values]
    if record.template_version:
        values = [v for v in values if not (v.index == TEMPLATE_VERSION_INDEX and v.type == TEMPLATE_VERSION_TYPE)]
    out: dict[str, Any] = {"handle": record.handle}
    if record.template_version:
        out["templateVersion"] = record.template_version
    out["values"] = [v.to_json() for v in values]
    return out


def dumps_line(obj: dict[str, Any]) -> str:
    """One JSONL line (no trailing newline): compact, UTF-8 kept as is."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
