"""The command line: help everywhere, version, errors and exit codes, client commands against a fake node."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import click
import grpc
import pytest
from click.testing import CliRunner
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2
from grpc_status import rpc_status

from idnode import __version__
from idnode.cli import main, template_from_json, template_to_json
from idnode.client import ClientError, call, connect, resolve_token
from idnode.proto import common_pb2, registry_pb2, registry_pb2_grpc, resolver_pb2, resolver_pb2_grpc
from idnode.registry.values import Value


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, path + (name,))
        else:
            yield path + (name,)


ALL_COMMANDS = list(_commands(main))


def test_command_list() -> None:
    assert set(ALL_COMMANDS) >= {
        (),
        ("serve",),
        ("version",),
        ("id",),
        ("id", "get"),
        ("id", "register"),
        ("id", "update"),
        ("id", "delete"),
        ("enterprise", "add"),
        ("enterprise", "list"),
        ("enterprise", "approve"),
        ("enterprise", "suspend"),
        ("prefix", "allocate"),
        ("prefix", "list"),
        ("template", "put"),
        ("template", "get"),
        ("token", "create"),
        ("token", "revoke"),
        ("whoami",),
        ("import",),
        ("export",),
        ("stats",),
    }


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "idnode")
def test_help_everywhere(path: tuple[str, ...]) -> None:
    for flag in ("--help", "-h"):
        result = CliRunner().invoke(main, [*path, flag])
        assert result.exit_code == 0, result.output
        assert "Usage: idnode" in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["version"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"idnode {__version__}"
    assert lines[1].startswith("Python 3.")
    assert lines[2] in ("fast path: python", "fast path: cython")
    assert CliRunner().invoke(main, ["--version"]).output.strip() == f"idnode {__version__}"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_id_get_unreachable_node() -> None:
    port = _closed_port()
    result = CliRunner().invoke(main, ["id", "get", "88.118.8/A", "--node", f"127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: 2 cannot reach the node at 127.0.0.1:{port}")


def test_serve_config_error_exits_2() -> None:
    result = CliRunner().invoke(main, ["serve", "--grpc-listen", "nowhere"], env={"IDNODE_CONFIG": ""})
    assert result.exit_code == 2
    assert result.stderr.startswith("error: settings: grpc_listen from --grpc-listen: ")


def test_serve_config_error_names_env(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve"], env={"IDNODE_WORKERS": "0"})
    assert result.exit_code == 2
    assert "settings: workers from IDNODE_WORKERS: must be at least 1" in result.stderr


def test_serve_passes_settings_to_node_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys
    import types

    seen: list[Any] = []
    fake = types.ModuleType("idnode.node")
    fake.run = lambda settings: seen.append(settings) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "idnode.node", fake)
    config = tmp_path / "node.toml"
    config.write_text('workers = 2\nlog-level = "debug"\n', encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["serve", "--config", str(config), "--data-dir", str(tmp_path), "--demo", "--map-size", "64MiB"],
        env={"IDNODE_WORKERS": "3"},
    )
    assert result.exit_code == 0, result.output
    (settings,) = seen
    assert (settings.data_dir, settings.demo, settings.map_size) == (tmp_path, True, 64 << 20)
    assert (settings.workers, settings.log_level) == (3, "debug")


def test_unreadable_token_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["whoami", "--token-file", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "cannot read token file" in result.output


# -- credentials ------------------------------------------------------------------


def test_resolve_token_order(tmp_path: Path) -> None:
    (tmp_path / "admin.credential").write_text("idn1.admin.secret\n", encoding="utf-8")
    token_file = tmp_path / "token"
    token_file.write_text("  idn1.file.secret \n", encoding="utf-8")
    assert resolve_token("idn1.flag.secret", str(token_file), tmp_path) == "idn1.flag.secret"
    assert resolve_token(None, str(token_file), tmp_path) == "idn1.file.secret"
    assert resolve_token(None, None, tmp_path) == "idn1.admin.secret"
    assert resolve_token(None, None, tmp_path / "elsewhere") is None
    assert resolve_token(None, None, None) is None
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        resolve_token(None, str(tmp_path / "empty"), None)


# -- against a fake node ------------------------------------------------------------

STORE: dict[str, list[common_pb2.HandleValue]] = {}


def _abort(context: grpc.ServicerContext, status: int, code: int, message: str, handle: str = "") -> None:
    detail = any_pb2.Any()
    detail.Pack(common_pb2.HandleError(response_code=code, message=message, handle=handle))
    context.abort_with_status(rpc_status.to_status(status_pb2.Status(code=status, message=message, details=[detail])))


class FakeNode(resolver_pb2_grpc.ResolverServicer, registry_pb2_grpc.RegistryServicer):
    """Enough of a node to drive the client commands; remembers the last credential."""

    def __init__(self) -> None:
        self.credentials: list[str] = []
        self.store: dict[str, registry_pb2.IdentifierWrite] = {}

    def _auth(self, context: grpc.ServicerContext) -> None:
        self.credentials.append(dict(context.invocation_metadata()).get("authorization", ""))

    def Resolve(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context)
        item = self.store.get(request.handle)
        if item is None:
            _abort(context, code_pb2.NOT_FOUND, 100, "handle not found", request.handle)
        values = [v for v in item.values if not request.indexes or v.index in request.indexes]
        return resolver_pb2.ResolveResponse(response_code=1, handle=request.handle, values=values)

    def CreateIdentifier(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context)
        if request.handle in self.store:
            return registry_pb2.WriteResult(handle=request.handle, response_code=101, message="handle already exists")
        self.store[request.handle] = request
        return registry_pb2.WriteResult(handle=request.handle, response_code=1, created=True, sequence=7)

    def BatchCreate(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context)
        return registry_pb2.BatchWriteResponse(results=[self.CreateIdentifier(i, context) for i in request.items])

    def ExportIdentifiers(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context)
        for handle in sorted(self.store):
            item = self.store[handle]
            yield registry_pb2.IdentifierRecord(
                handle=handle, values=item.values, template_version=item.template_version
            )

    def GetStats(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context)
        return registry_pb2.Stats(
            node_prefix="88.118", identifiers=len(self.store), map_size=1 << 30, fastpath="python"
        )

    def WhoAmI(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context)
        _abort(context, code_pb2.UNAUTHENTICATED, 402, "authentication needed")

    def PutTemplate(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context)
        return request


@pytest.fixture()
def fake_node() -> Iterator[tuple[str, FakeNode]]:
    servicer = FakeNode()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    resolver_pb2_grpc.add_ResolverServicer_to_server(servicer, server)
    registry_pb2_grpc.add_RegistryServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(None)


def _run(target: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, [*args, "--node", target], env={"IDNODE_DATA_DIR": "/nonexistent", **(env or {})})


def test_register_get_and_errors(fake_node: tuple[str, FakeNode], tmp_path: Path) -> None:
    target, node = fake_node
    (tmp_path / "admin.credential").write_text("idn1.admin.s3cret\n", encoding="utf-8")
    result = _run(
        target,
        "id",
        "register",
        "88.118.8/A",
        "--value",
        "1:URL:https://example.com/a:b",
        "--value",
        "2:NAME:螺栓",
        "--data-dir",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "handle": "88.118.8/A",
        "response_code": 1,
        "message": "",
        "created": True,
        "sequence": 7,
    }
    assert node.credentials[-1] == "Bearer idn1.admin.s3cret"

    again = _run(target, "id", "register", "88.118.8/A", "--value", "1:URL:x", "--token", "idn1.t.x")
    assert again.exit_code == 1
    assert again.stderr == "error: 101 handle already exists\n"
    assert node.credentials[-1] == "Bearer idn1.t.x"

    got = _run(target, "id", "get", "88.118.8/A", "--index", "2")
    assert got.exit_code == 0, got.output
    document = json.loads(got.stdout)
    assert document["handle"] == "88.118.8/A"
    assert [(v["index"], v["data"]["value"]) for v in document["values"]] == [(2, "螺栓")]
    assert "螺栓" in got.stdout  # ensure_ascii=False
    assert node.credentials[-1] == ""  # no token anywhere: anonymous

    missing = _run(target, "id", "get", "88.118.8/NOPE")
    assert (missing.exit_code, missing.stderr) == (1, "error: 100 handle not found\n")

    who = _run(target, "whoami")
    assert (who.exit_code, who.stderr) == (1, "error: 402 authentication needed\n")


def test_register_bad_value_is_usage_error(fake_node: tuple[str, FakeNode]) -> None:
    target, node = fake_node
    result = _run(target, "id", "register", "88.118.8/A", "--value", "zero:URL:x")
    assert result.exit_code == 2 and "index 'zero' is not a number" in result.output
    assert _run(target, "id", "register", "88.118.8/A").exit_code == 2
    assert node.store == {}


def test_client_error_fields(fake_node: tuple[str, FakeNode]) -> None:
    target, _ = fake_node
    channel = connect(target)
    try:
        with pytest.raises(ClientError) as caught:
            call(resolver_pb2_grpc.ResolverStub(channel).Resolve, resolver_pb2.ResolveRequest(handle="88.118.8/Z"))
    finally:
        channel.close()
    error = caught.value
    assert (error.code, error.message, error.handle, error.status) == (
        100,
        "handle not found",
        "88.118.8/Z",
        "NOT_FOUND",
    )
    assert type(error.as_handle_error()).__name__ == "HandleNotFound"


def test_import_export_round_trip(fake_node: tuple[str, FakeNode], tmp_path: Path) -> None:
    target, node = fake_node
    source = tmp_path / "ids.csv"
    source.write_text(
        "handle,index,type,data,template_version\n"
        "88.118.8/A,1,URL,https://example.com/a,v1\n"
        "88.118.8/A,2,NAME,螺栓,v1\n"
        "88.118.8/B,x,URL,https://example.com/b,\n"
        "88.118.8/C,1,URL,https://example.com/c,\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.jsonl"
    result = _run(target, "import", str(source), "--batch-size", "1", "--rejects", str(rejects))
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("imported: 2 accepted, 1 rejected in ")
    assert "reject: line 4 88.118.8/B: 202 index 'x' is not a number" in result.stderr
    assert [json.loads(line) for line in rejects.read_text().splitlines()] == [
        {"line": 4, "handle": "88.118.8/B", "code": 202, "message": "index 'x' is not a number"}
    ]
    assert sorted(node.store) == ["88.118.8/A", "88.118.8/C"]

    exported = tmp_path / "out.jsonl"
    out = _run(target, "export", "--output", str(exported))
    assert out.exit_code == 0, out.output
    assert "exported: 2 identifiers" in out.stderr
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["templateVersion"] == "v1"

    # the export imports back unchanged: a fresh node receives the same writes
    first = dict(node.store)
    node.store.clear()
    again = _run(target, "import", str(exported))
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("imported: 2 accepted, 0 rejected")
    assert node.store == first

    # and a second import of the same file reports the node's per-item rejects
    third = _run(target, "import", str(exported))
    assert third.exit_code == 1 and "101 handle already exists" in third.stderr


def test_import_unknown_extension_needs_format(fake_node: tuple[str, FakeNode], tmp_path: Path) -> None:
    target, _ = fake_node
    source = tmp_path / "ids.txt"
    source.write_text('{"handle": "88.118.8/A", "values": [{"index": 1, "type": "T", "data": "x"}]}\n')
    assert _run(target, "import", str(source)).exit_code == 2
    assert _run(target, "import", str(source), "--format", "jsonl").exit_code == 0


def test_export_to_stdout_and_stats(fake_node: tuple[str, FakeNode]) -> None:
    target, node = fake_node
    node.store["88.118.8/A"] = registry_pb2.IdentifierWrite(
        handle="88.118.8/A", values=[Value(1, "URL", b"https://example.com").to_pb()]
    )
    out = _run(target, "export")
    assert out.exit_code == 0
    assert json.loads(out.stdout.splitlines()[0])["handle"] == "88.118.8/A"
    stats = _run(target, "stats")
    assert stats.exit_code == 0, stats.output
    document = json.loads(stats.stdout)
    assert document["node_prefix"] == "88.118"
    assert int(document["identifiers"]) == 1 and int(document["tombstones"]) == 0


def test_template_put_round_trip(fake_node: tuple[str, FakeNode], tmp_path: Path) -> None:
    target, _ = fake_node
    document = {
        "prefix": "88.118.8",
        "version": "v1",
        "industryCode": "C3411",
        "carrierType": "QR",
        "description": "bolts",
        "items": [
            {
                "name": "productName",
                "idType": "string",
                "required": True,
                "index": 2,
                "metadata": {"type": "string", "minLength": 1, "maxLength": 64},
            }
        ],
    }
    path = tmp_path / "template.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = _run(target, "template", "put", str(path))
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    answer.pop("created")
    assert answer == document
    assert template_to_json(template_from_json(document))["items"] == document["items"]
    with pytest.raises(ValueError, match=r"template items\[0\]\.name is missing"):
        template_from_json({"prefix": "88.118.8", "version": "v1", "items": [{}]})
    bad = tmp_path / "bad.json"
    bad.write_text('{"prefix": "88.118.8"}', encoding="utf-8")
    assert _run(target, "template", "put", str(bad)).exit_code == 2


def test_keys_generate_writes_a_private_key_once(tmp_path: Path) -> None:
    from idnode.registry import signing

    key_file = tmp_path / "k.pem"
    result = CliRunner().invoke(main, ["keys", "generate", str(key_file), "--algorithm", "ES256", "--index", "301"])
    assert result.exit_code == 0, result.output
    (printed,) = json.loads(result.stdout)
    value = Value.from_json(printed)
    assert (value.index, value.type) == (301, "HS_PUBKEY")
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert signing.holds_key(value, signing.load_private_key(key_file.read_bytes()))
    again = CliRunner().invoke(main, ["keys", "generate", str(key_file)])
    assert again.exit_code == 2 and "cannot create" in again.stderr


@pytest.mark.parametrize(
    "bad", ["88.118.8/K", "88.118.8/K:x", "88.118.8/K:0", ":300", "88.118.8/K:²", "88.118.8/K:9999999999"]
)
def test_id_sign_rejects_a_bad_key_handle_before_any_call(tmp_path: Path, bad: str) -> None:
    key_file = tmp_path / "k.pem"
    assert CliRunner().invoke(main, ["keys", "generate", str(key_file)]).exit_code == 0
    port = _closed_port()
    args = ["id", "sign", "88.118.8/X", "--key", str(key_file), "--key-handle", bad, "--node", f"127.0.0.1:{port}"]
    result = CliRunner().invoke(main, [*args, "--token", "t"])
    assert result.exit_code == 2 and "expected HANDLE:INDEX" in result.stderr, result.output


def test_id_sign_rejects_a_file_that_is_not_a_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    port = _closed_port()
    result = CliRunner().invoke(
        main, ["id", "sign", "88.118.8/X", "--key", str(bad), "--node", f"127.0.0.1:{port}", "--token", "t"]
    )
    assert result.exit_code == 2 and "cannot read the private key" in result.stderr
