"""Import parsing (CSV, JSONL, every reject kind with its line), ordered batch sending, export round trip."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import status_pb2

from idnode.client import ClientError
from idnode.importer import (
    ImportAborted,
    ImportItem,
    Reason,
    batched,
    detect_format,
    dumps_line,
    iter_items,
    record_to_json,
    run_import,
    value_from_text,
)
from idnode.proto import common_pb2, registry_pb2
from idnode.registry.errors import InvalidValue
from idnode.registry.values import AdminData, Reference, Value

HEADER = "handle,index,type,data\n"


def _items(text: str | bytes, fmt: str) -> list[ImportItem]:
    data = text.encode() if isinstance(text, str) else text
    return list(iter_items(io.BytesIO(data), fmt))


def _rejects(items: list[ImportItem]) -> list[tuple[int, str, int, str]]:
    return [(i.line, i.handle, i.error.code, str(i.error)) for i in items if i.write is None]  # type: ignore[attr-defined]


def _values(item: ImportItem) -> list[Value]:
    assert item.write is not None
    return [Value.from_pb(v) for v in item.write.values]


# -- CSV ------------------------------------------------------------------------


def test_csv_consecutive_rows_form_one_identifier() -> None:
    text = (
        HEADER
        + "88.118.8/A,1,URL,https://example.com/a\n"
        + "88.118.8/A,2,productName,螺栓\n"
        + "88.118.8/B,1,URL,https://example.com/b\n"
        + "88.118.8/A,3,EMAIL,a@example.com\n"
    )
    items = _items(text, "csv")
    assert [(i.line, i.handle, i.error) for i in items] == [
        (2, "88.118.8/A", ""),
        (4, "88.118.8/B", ""),
        (5, "88.118.8/A", ""),
    ]
    first = _values(items[0])
    assert [(v.index, v.type, v.text) for v in first] == [
        (1, "URL", "https://example.com/a"),
        (2, "productName", "螺栓"),
    ]
    assert items[0].write.template_version == ""  # type: ignore[union-attr]


def test_csv_optional_columns_and_quoted_fields() -> None:
    text = (
        "handle,index,type,data,format,ttl,permissions,template_version\n"
        '88.118.8/A,1,DESC,"a, b ""quoted""",string,3600,1110,v1\n'
        "88.118.8/A,2,BLOB,3q2+7w==,base64,,0110,\n"
        "88.118.8/A,3,HEXDATA,deadbeef,hex,,,v1\n"
        "88.118.8/A,100,HS_ADMIN,300:88.118.8/ADMIN 111111111111,admin,,,\n"
        '88.118.8/A,4,HS_VLIST,"1:88.118.8/B 2:88.118.8/C",vlist,,,\n'
    )
    (item,) = _items(text, "csv")
    assert item.error == ""
    values = _values(item)
    assert values[0].text == 'a, b "quoted"' and values[0].ttl == 3600
    assert values[1].data == bytes.fromhex("deadbeef") and values[1].permissions == 0b0110
    assert values[2].format == "hex"
    assert values[3].data == AdminData("88.118.8/ADMIN", 300, 0xFFF)
    assert values[4].data == (Reference("88.118.8/B", 1), Reference("88.118.8/C", 2))
    assert item.write.template_version == "v1"  # type: ignore[union-attr]


def test_csv_utf8_bom_and_crlf() -> None:
    data = ("\ufeff" + HEADER + "88.118.8/A,1,URL,https://example.com\n").replace("\n", "\r\n").encode("utf-8")
    (item,) = _items(data, "csv")
    assert item.error == "" and item.line == 2
    assert _values(item)[0].text == "https://example.com"


def test_csv_header_case_and_order() -> None:
    (item,) = _items(" Data ,TYPE,index,Handle\nhello,T,1,88.118.8/A\n", "csv")
    assert item.error == "" and _values(item)[0].text == "hello"


def test_csv_blank_lines_skipped() -> None:
    items = _items(HEADER + "\n88.118.8/A,1,T,x\n\n,,,\n88.118.8/B,1,T,y\n", "csv")
    assert [(i.line, i.handle) for i in items] == [(3, "88.118.8/A"), (6, "88.118.8/B")]


def test_csv_missing_column() -> None:
    items = _items("handle,index,type\n88.118.8/A,1,URL\n", "csv")
    assert _rejects(items) == [(1, "", 4, "missing column data in the header (required: handle, index, type, data)")]


def test_csv_unknown_and_duplicate_column() -> None:
    assert "unknown column 'fromat'" in _rejects(_items("handle,index,type,data,fromat\n", "csv"))[0][3]
    assert "column 'type' appears twice" in _rejects(_items("handle,index,type,data,type\n", "csv"))[0][3]


def test_csv_bad_index_rejects_the_whole_identifier() -> None:
    text = HEADER + "88.118.8/A,1,URL,x\n88.118.8/A,one,T,y\n88.118.8/A,3,T,z\n88.118.8/B,1,T,ok\n"
    items = _items(text, "csv")
    assert _rejects(items) == [(3, "88.118.8/A", 202, "index 'one' is not a number")]
    assert [(i.line, i.handle) for i in items if i.write is not None] == [(5, "88.118.8/B")]


@pytest.mark.parametrize(
    ("row", "code", "reason"),
    [
        ("88.118.8/A,0,T,x", 202, "value index must be an integer from 1"),
        ("88.118.8/A,1,T,zz,hex", 202, "data is not valid hex"),
        ("88.118.8/A,1,T,x,morse", 202, "unknown data format 'morse'"),
        ("88.118.8/A,1,T,x,string,soon", 202, "ttl 'soon' is not a number"),
        ("88.118.8/A,1,T,x,string,,11", 202, "permissions must be 4 characters"),
        ("88.118.8/A,1,HS_ADMIN,x,string", 202, "HS_ADMIN values need admin data"),
        ("88.118.8/A,1,HS_ADMIN,88.118.8/ADMIN,admin", 202, "expected INDEX:HANDLE"),
        ("88.118.8/A,1,,x", 202, "is empty"),
        ("88.118.8/A,1,T", 4, "row has 3 fields, the header has 7"),
        ("88.118.8,1,T,x", 102, "no '/' between prefix and suffix"),
        (",1,T,x", 102, "empty handle"),
    ],
)
def test_csv_bad_value_rejects(row: str, code: int, reason: str) -> None:
    items = _items("handle,index,type,data,format,ttl,permissions\n" + _pad(row) + "\n", "csv")
    ((line, _, got_code, message),) = _rejects(items)
    assert (line, got_code) == (2, code)
    assert reason in message


def _pad(row: str) -> str:
    """Pad to the 7-column header unless the case is about the field count."""
    fields = row.split(",")
    return row if len(fields) == 3 else ",".join(fields + [""] * (7 - len(fields)))


def test_csv_field_count_reject_line() -> None:
    items = _items(HEADER + "88.118.8/A,1,T\n", "csv")
    assert _rejects(items) == [(2, "88.118.8/A", 4, "row has 3 fields, the header has 4")]


def test_csv_duplicate_index_in_group() -> None:
    items = _items(HEADER + "88.118.8/A,1,T,x\n88.118.8/A,1,T,y\n", "csv")
    assert _rejects(items) == [(2, "88.118.8/A", 202, "index 1 appears twice")]


def test_csv_template_versions_disagree() -> None:
    text = "handle,index,type,data,template_version\n88.118.8/A,1,T,x,v1\n88.118.8/A,2,T,y,v2\n"
    assert _rejects(_items(text, "csv")) == [(2, "88.118.8/A", 202, "rows disagree on template_version: v1, v2")]


def test_csv_not_utf8_line() -> None:
    data = HEADER.encode() + b"88.118.8/A,1,T,x\n88.118.8/B,1,T,\xff\xfe\n88.118.8/C,1,T,z\n"
    items = _items(data, "csv")
    assert _rejects(items) == [(3, "88.118.8/B", 4, "line is not valid UTF-8")]
    assert [i.handle for i in items if i.write is not None] == ["88.118.8/A", "88.118.8/C"]


@pytest.mark.parametrize("bad_row", [b'88.118.8/A,2,T,"a"b', b"88.118.8/A,2,T,\xff", b'"88.118.8/A",2,T,"a"b'])
def test_csv_unreadable_row_rejects_its_whole_identifier(bad_row: bytes) -> None:
    """Never a part of an identifier: its other rows go down with the unreadable one."""
    data = HEADER.encode() + b"88.118.8/A,1,T,x\n" + bad_row + b"\n88.118.8/A,3,T,z\n88.118.8/B,1,T,y\n"
    items = _items(data, "csv")
    assert [(line, handle, code) for line, handle, code, _ in _rejects(items)] == [(3, "88.118.8/A", 4)]
    assert [i.handle for i in items if i.write is not None] == ["88.118.8/B"]


def test_csv_multiline_quoted_field_line_numbers() -> None:
    items = _items(HEADER + '88.118.8/A,1,T,"two\nlines"\n88.118.8/B,x,T,y\n', "csv")
    assert items[0].line == 2 and _values(items[0])[0].text == "two\nlines"
    assert _rejects(items) == [(4, "88.118.8/B", 202, "index 'x' is not a number")]


def test_csv_malformed_quoting() -> None:
    text = HEADER + '88.118.8/A,1,T,x\n88.118.8/B,1,T,"a"b\n88.118.8/C,1,T,z\n88.118.8/D,1,T,"open\n'
    items = _items(text, "csv")
    assert _rejects(items) == [
        (3, "88.118.8/B", 4, "not valid CSV: ',' expected after '\"'"),
        (5, "88.118.8/D", 4, "not valid CSV: unexpected end of data"),
    ]
    assert [i.handle for i in items if i.write is not None] == ["88.118.8/A", "88.118.8/C"]


def test_csv_large_cells_left_to_the_value_model() -> None:
    hex_cell = "ab" * 65536  # 64 KiB of data: the largest binary value
    items = _items(
        HEADER.replace("data", "data,format")
        + f"88.118.8/A,1,T,{hex_cell},hex\n"
        + f"88.118.8/B,1,T,{'y' * 300},string\n",
        "csv",
    )
    assert items[0].error == ""
    assert _rejects(items) == [
        (3, "88.118.8/B", 202, "value 1 (T): string data has 300 characters, at most 255 allowed")
    ]


def test_csv_empty_file() -> None:
    assert _rejects(_items("", "csv")) == [(0, "", 4, "empty file: expected a header row handle,index,type,data")]
    assert _rejects(_items("\n\n", "csv"))[0][3].startswith("empty file")


def test_csv_header_only() -> None:
    assert _rejects(_items(HEADER, "csv")) == [(1, "", 4, "no identifiers after the header row")]


def test_csv_text_file_object() -> None:
    (item,) = list(iter_items(io.StringIO(HEADER + "88.118.8/A,1,T,x\n"), "csv"))
    assert item.error == ""


# -- JSONL ----------------------------------------------------------------------


def _line(handle: str, *values: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"handle": handle, "values": list(values), **extra}, ensure_ascii=False)


URL = {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://example.com"}}


def test_jsonl_items() -> None:
    text = (
        "\n".join(
            [
                _line("88.118.8/A", URL, {"index": 2, "type": "NAME", "data": "螺栓"}, templateVersion="v2"),
                "",
                _line("88.118.8/B", URL),
            ]
        )
        + "\n"
    )
    items = _items(text, "jsonl")
    assert [(i.line, i.handle, i.error) for i in items] == [(1, "88.118.8/A", ""), (3, "88.118.8/B", "")]
    assert items[0].write.template_version == "v2"  # type: ignore[union-attr]
    assert [v.text for v in _values(items[0])] == ["https://example.com", "螺栓"]


@pytest.mark.parametrize(
    ("line", "code", "reason"),
    [
        ('{"handle": "88.118.8/A", "values": [', 4, "not valid JSON: Expecting value at column"),
        ("[1, 2]", 4, "expected a JSON object, got list"),
        ('{"values": []}', 102, 'missing "handle"'),
        ('{"handle": "88.118.8/A"}', 202, 'missing "values"'),
        ('{"handle": "88.118.8/A", "values": []}', 202, "an identifier needs at least one value"),
        ('{"handle": "nope", "values": [{"index": 1, "type": "T", "data": "x"}]}', 102, "no '/'"),
        (
            '{"handle": "88.118.8/A", "values": [{"index": 0, "type": "T", "data": "x"}]}',
            202,
            "values[0]: value index must be an integer",
        ),
        (
            '{"handle": "88.118.8/A", "values": [{"index": 1, "type": "T", "data": {"format": "hex", "value": "q"}}]}',
            202,
            "values[0]: value 1 (T): data is not valid hex",
        ),
        (
            '{"handle": "88.118.8/A", "values": [{"index": 1, "type": "T", "data": "x", "ttl": "soon"}]}',
            202,
            "ttl must be an integer",
        ),
        ('{"handle": "88.118.8/A", "values": ["x"]}', 202, "values[0]: a value must be a JSON object"),
        ('{"handle": "88.118.8/A", "templateVersion": 2, "values": []}', 202, "templateVersion"),
    ],
)
def test_jsonl_rejects(line: str, code: int, reason: str) -> None:
    text = _line("88.118.8/OK", URL) + "\n" + line + "\n" + _line("88.118.8/OK2", URL) + "\n"
    items = _items(text, "jsonl")
    ((got_line, _, got_code, message),) = _rejects(items)
    assert (got_line, got_code) == (2, code)
    assert reason in message
    assert [i.line for i in items if i.write is not None] == [1, 3]


def test_jsonl_not_utf8_and_bom() -> None:
    data = b"\xef\xbb\xbf" + _line("88.118.8/A", URL).encode() + b"\n\xff\n"
    items = _items(data, "jsonl")
    assert items[0].error == ""
    assert _rejects(items) == [(2, "", 4, "line is not valid UTF-8")]


def test_jsonl_empty_file() -> None:
    assert _rejects(_items("", "jsonl")) == [(0, "", 4, "empty file: no identifiers to import")]
    assert _rejects(_items("\n  \n", "jsonl"))[0][3].startswith("empty file")


def test_reason_is_a_str_with_a_code() -> None:
    reason = Reason("bad", 202)
    assert reason == "bad" and reason.code == 202 and json.dumps(reason) == '"bad"'


# -- formats and paths ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.csv", "csv"), ("A.CSV", "csv"), ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"), ("a.json", "jsonl")],
)
def test_detect_format(name: str, expected: str) -> None:
    assert detect_format(name) == expected


def test_detect_format_errors() -> None:
    with pytest.raises(ValueError, match="cannot tell the format of data.txt"):
        detect_format("data.txt")
    with pytest.raises(ValueError, match="unknown import format 'xml'"):
        detect_format("a.csv", "xml")
    assert detect_format("data.txt", "CSV") == "csv"


def test_iter_items_from_path(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text(HEADER + "88.118.8/A,1,T,x\n", encoding="utf-8")
    (item,) = list(iter_items(path))
    assert item.handle == "88.118.8/A"
    with pytest.raises(ValueError):
        list(iter_items(tmp_path / "ids.txt"))


def test_value_from_text() -> None:
    assert value_from_text("7", "URL", "https://x").index == 7
    with pytest.raises(InvalidValue, match="index '-1' is not a number"):
        value_from_text("-1", "URL", "x")


def test_batched() -> None:
    assert list(batched(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(batched([], 3)) == []
    with pytest.raises(ValueError):
        list(batched([1], 0))


# -- export round trip ----------------------------------------------------------


def test_round_trip_record_to_json_jsonl_iter_items() -> None:
    values = [
        Value(1, "URL", b"https://example.com/a", ttl=3600, timestamp=1_700_000_000),
        Value(2, "NAME", "螺栓 M8".encode(), permissions=0b1100),
        Value(3, "BLOB", b"\x00\x01\xff", format="base64", ttl=1_900_000_000, ttl_absolute=True),
        Value(4, "HEX", b"\xde\xad", format="hex", references=(Reference("88.118.8/B", 1),)),
        Value(100, "HS_ADMIN", AdminData("88.118.8/ADMIN", 300, 0x0F3), format="admin"),
        Value(5, "HS_VLIST", (Reference("88.118.8/B", 1), Reference("88.118.8/C", 2)), format="vlist"),
        Value(1001, "TEMPLATE_VERSION", b"v3"),
    ]
    record = registry_pb2.IdentifierRecord(
        handle="88.118.8/JXDY2106023",
        values=[v.to_pb() for v in values],
        template_version="v3",
        created=1,
        updated=2,
    )
    obj = record_to_json(record)
    assert list(obj) == ["handle", "templateVersion", "values"]
    assert [v["index"] for v in obj["values"]] == [1, 2, 3, 4, 100, 5]  # 1001 comes back from templateVersion
    line = dumps_line(obj)
    assert "\n" not in line and "螺栓" in line
    (item,) = _items(line + "\n", "jsonl")
    assert item.error == "" and item.handle == record.handle
    assert item.write.template_version == "v3"  # type: ignore[union-attr]
    back = _values(item)
    assert [v.same_content(w) for v, w in zip(back, values[:-1], strict=True)] == [True] * 6
    # and the same line once more gives the same JSON: export -> import -> export is stable
    again = registry_pb2.IdentifierRecord(handle=item.handle, values=item.write.values, template_version="v3")  # type: ignore[union-attr]
    assert record_to_json(again)["values"][1:] == obj["values"][1:]


def test_record_without_template_version_keeps_every_value() -> None:
    record = registry_pb2.IdentifierRecord(handle="88.118.8/A", values=[Value(1001, "TEMPLATE_VERSION", b"x").to_pb()])
    obj = record_to_json(record)
    assert "templateVersion" not in obj and obj["values"][0]["index"] == 1001


# -- sending --------------------------------------------------------------------


class FakeRpcError(grpc.RpcError, grpc.Call):
    """A failed call as grpcio raises it: an RpcError that is also a Call."""

    def __init__(self, status: grpc.StatusCode, details: str, handle_error: common_pb2.HandleError | None = None):
        self._status, self._details = status, details
        self._trailers: tuple[tuple[str, bytes], ...] = ()
        if handle_error is not None:
            packed = any_pb2.Any()
            packed.Pack(handle_error)
            rich = status_pb2.Status(code=status.value[0], message=details, details=[packed])
            self._trailers = (("grpc-status-details-bin", rich.SerializeToString()),)

    def code(self) -> grpc.StatusCode:
        return self._status

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailers

    def initial_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


class FakeFuture:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    def result(self) -> Any:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakeBatchCreate:
    """Answers each BatchCreate like the node: items whose handle ends in 'X' fail with 101."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.calls: list[tuple[registry_pb2.BatchCreateRequest, Any]] = []
        self.failures = list(failures or [])
        self.outstanding = 0
        self.max_outstanding = 0

    def future(self, request: registry_pb2.BatchCreateRequest, metadata: Any = (), timeout: Any = None) -> Any:
        self.calls.append((request, metadata))
        if self.failures:
            return FakeFuture(self.failures.pop(0))
        results = [
            registry_pb2.WriteResult(handle=i.handle, response_code=101, message="handle already exists")
            if i.handle.endswith("X")
            else registry_pb2.WriteResult(handle=i.handle, response_code=1, created=True)
            for i in request.items
        ]
        self.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding)
        fake = self

        class Settles(FakeFuture):
            def result(self) -> Any:
                fake.outstanding -= 1
                return super().result()

        return Settles(registry_pb2.BatchWriteResponse(results=results))


class FakeStub:
    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.BatchCreate = FakeBatchCreate(failures)


def _jsonl(handles: list[str | None]) -> list[ImportItem]:
    lines = [_line(h, URL) if h else "{broken" for h in handles]
    return _items("\n".join(lines) + "\n", "jsonl")


def test_run_import_keeps_order_and_collects_rejects() -> None:
    handles = [f"88.118.8/{n}" for n in range(10)]
    handles[3] = None  # parse reject
    handles[6] = "88.118.8/6X"  # server reject
    stub = FakeStub()
    seen: list[int] = []
    summary = run_import(
        stub, _jsonl(handles), token="idn1.t.s", batch_size=3, in_flight=2, progress=lambda s: seen.append(s.processed)
    )
    assert summary.accepted == 8 and summary.created == 8
    assert [(r.line, r.handle, r.code) for r in summary.rejected] == [(4, "", 4), (7, "88.118.8/6X", 101)]
    assert summary.rejected[1].message == "handle already exists"
    assert seen == sorted(seen) and seen[-1] == 10
    assert [len(req.items) for req, _ in stub.BatchCreate.calls] == [3, 2, 3, 1]  # line 4 never sent
    assert all(md == (("authorization", "Bearer idn1.t.s"),) for _, md in stub.BatchCreate.calls)
    assert stub.BatchCreate.max_outstanding <= 2
    assert summary.finished is not None and summary.rate > 0


def test_run_import_batch_of_only_rejects_sends_nothing() -> None:
    stub = FakeStub()
    summary = run_import(stub, _jsonl([None, None]), batch_size=2)
    assert stub.BatchCreate.calls == [] and [r.line for r in summary.rejected] == [1, 2]


def test_run_import_aborts_on_auth_failure_with_decoded_handle_error() -> None:
    denied = FakeRpcError(
        grpc.StatusCode.UNAUTHENTICATED,
        "authentication failed",
        common_pb2.HandleError(response_code=403, message="unknown token", handle=""),
    )
    stub = FakeStub([denied])
    with pytest.raises(ImportAborted) as caught:
        run_import(stub, _jsonl([f"88.118.8/{n}" for n in range(4)]), batch_size=2, in_flight=4)
    error = caught.value
    assert (error.code, error.message, error.status) == (403, "unknown token", "UNAUTHENTICATED")
    assert isinstance(error, ClientError)
    assert error.summary.accepted == 2  # the second batch was in flight and settled before stopping


def test_run_import_retries_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("idnode.importer.time.sleep", lambda s: None)
    stub = FakeStub([FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection reset")])
    summary = run_import(stub, _jsonl(["88.118.8/A"]), retries=2)
    assert summary.accepted == 1 and len(stub.BatchCreate.calls) == 2


def test_run_import_gives_up_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("idnode.importer.time.sleep", lambda s: None)
    failures = [FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down") for _ in range(3)]
    with pytest.raises(ImportAborted, match="cannot reach the node at 10.0.0.1:1: down"):
        run_import(FakeStub(failures), _jsonl(["88.118.8/A"]), retries=2, target="10.0.0.1:1")


def test_run_import_argument_checks() -> None:
    with pytest.raises(ValueError, match="batch size"):
        run_import(FakeStub(), [], batch_size=2001)
    with pytest.raises(ValueError, match="in_flight"):
        run_import(FakeStub(), [], in_flight=0)
