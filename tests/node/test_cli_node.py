"""The `idnode` command against a running demo node, as an operator uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import credit_code


@pytest.fixture
def demo(node_factory):
    return node_factory("--demo")


def idnode(node, *args, token=None, input=None, check=True):
    env = dict(os.environ, IDNODE_NODE=node.target, IDNODE_DATA_DIR=str(node.data_dir))
    env.pop("IDNODE_TOKEN", None)
    if token:
        env["IDNODE_TOKEN"] = token
    proc = subprocess.run(
        [sys.executable, "-m", "idnode", *args], capture_output=True, text=True, env=env, input=input, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"idnode {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_demo_record_and_unknown_handle(demo):
    record = json.loads(idnode(demo, "id", "get", "88.118.8/DEMO-000001").stdout)
    assert record["handle"] == "88.118.8/DEMO-000001"
    by_type = {v["type"]: v for v in record["values"]}
    assert by_type["URL"]["index"] == 1
    assert by_type["URL"]["data"] == {"format": "string", "value": "https://demo.idnode.example/products/DEMO-000001"}
    assert "GTIN" in by_type and "batchNo" not in by_type  # batchNo is not public
    last = json.loads(idnode(demo, "id", "get", "88.118.8/DEMO-010000").stdout)
    assert last["handle"] == "88.118.8/DEMO-010000"
    missing = idnode(demo, "id", "get", "88.118.8/DEMO-010001", check=False)
    assert missing.returncode == 1
    assert "100" in missing.stderr and "not found" in missing.stderr
    bad = idnode(demo, "id", "get", "88.118.8", check=False)
    assert bad.returncode == 1 and "102" in bad.stderr
    assert json.loads(idnode(demo, "stats").stdout)["identifiers"] == 10000


def test_demo_is_idempotent_across_restarts(demo, node_factory):
    token = (demo.data_dir / "demo.token").read_text().strip()
    before = json.loads(idnode(demo, "stats").stdout)
    demo.stop()
    again = node_factory("--demo", data_dir=demo.data_dir)
    assert (again.data_dir / "demo.token").read_text().strip() == token
    assert any(token in line for line in again.output)
    after = json.loads(idnode(again, "stats").stdout)
    assert after["identifiers"] == before["identifiers"] == 10000
    assert after["changelog_sequence"] == before["changelog_sequence"]  # nothing was written again


def test_operator_and_enterprise_workflow(demo, tmp_path):
    code = credit_code("91440300192203821")
    assert (
        json.loads(
            idnode(
                demo, "enterprise", "add", "--credit-code", code, "--name", "Pump Co", "--contact", "ops@pump.example"
            ).stdout
        )["status"]
        == "pending"
    )
    idnode(demo, "enterprise", "approve", code)
    prefix = json.loads(idnode(demo, "prefix", "allocate", code).stdout)["prefix"]
    assert prefix == "88.118.9"
    issued = json.loads(idnode(demo, "token", "create", "--role", "enterprise", "--credit-code", code).stdout)
    token = issued["token"]
    assert json.loads(idnode(demo, "whoami", token=token).stdout)["credit_code"] == code
    template = tmp_path / "template.json"
    template.write_text(
        json.dumps(
            {
                "prefix": prefix,
                "version": "1.0",
                "items": [
                    {"name": "URL", "idType": "url", "required": True, "metadata": {"type": "url"}},
                    {"name": "weight", "idType": "number", "metadata": {"type": "number"}},
                    {"name": "EMAIL", "idType": "email", "metadata": {"type": "email"}},
                ],
            }
        )
    )
    idnode(demo, "template", "put", str(template), token=token)
    assert json.loads(idnode(demo, "template", "get", prefix, token=token).stdout)["version"] == "1.0"
    result = json.loads(
        idnode(
            demo,
            "id",
            "register",
            f"{prefix}/P-1",
            "--value",
            "1:URL:https://pump.example/1",
            "--value",
            "2:weight:12.5",
            "--template-version",
            "1.0",
            token=token,
        ).stdout
    )
    assert result["response_code"] == 1
    bad = idnode(
        demo,
        "id",
        "register",
        f"{prefix}/P-2",
        "--value",
        "1:URL:https://pump.example/2",
        "--value",
        "2:weight:heavy",
        "--template-version",
        "1.0",
        token=token,
        check=False,
    )
    assert bad.returncode == 1 and "202" in bad.stderr
    foreign = idnode(demo, "id", "register", "88.118.8/MINE", "--value", "1:URL:https://x", token=token, check=False)
    assert foreign.returncode == 1 and "401" in foreign.stderr
    idnode(demo, "id", "update", f"{prefix}/P-1", "--mode", "add", "--value", "3:EMAIL:a@pump.example", token=token)
    types = [v["type"] for v in json.loads(idnode(demo, "id", "get", f"{prefix}/P-1").stdout)["values"]]
    assert types == ["URL", "weight", "EMAIL", "TEMPLATE_VERSION"]
    idnode(demo, "id", "delete", f"{prefix}/P-1", token=token)
    deleted = idnode(demo, "id", "get", f"{prefix}/P-1", check=False)
    assert deleted.returncode == 1 and "deleted" in deleted.stderr
    idnode(demo, "token", "revoke", issued["token_id"])
    revoked = idnode(demo, "whoami", token=token, check=False)
    assert revoked.returncode == 1 and "403" in revoked.stderr


def test_import_reports_rejects_and_export_round_trips(demo, tmp_path):
    token = (demo.data_dir / "demo.token").read_text().strip()
    rows = ["handle,index,type,data"]
    for i in range(2500):
        rows += [f"88.118.8/IMP-{i:05d},1,URL,https://imp.example/{i}", f"88.118.8/IMP-{i:05d},2,productName,Item {i}"]
    rows += [
        "88.118.8/,1,URL,https://bad.example",
        "88.118.9/NOT-MINE,1,URL,https://x.example",
        "88.118.8/BAD-INDEX,zero,URL,https://x.example",
    ]
    source = tmp_path / "products.csv"
    source.write_text("\n".join(rows) + "\n")
    rejects = tmp_path / "rejects.jsonl"
    run = idnode(demo, "import", str(source), "--rejects", str(rejects), token=token, check=False)
    assert run.returncode == 1
    assert "2500 accepted, 3 rejected" in run.stdout
    reasons = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert sorted(r["code"] for r in reasons) == [102, 202, 401]
    assert all(r["line"] > 0 and r["message"] for r in reasons)
    assert (
        json.loads(idnode(demo, "id", "get", "88.118.8/IMP-02499").stdout)["values"][0]["data"]["value"]
        == "https://imp.example/2499"
    )
    # an identical re-import is accepted again (creates are idempotent)
    again = idnode(demo, "import", str(source), token=token, check=False)
    assert "2500 accepted, 3 rejected" in again.stdout

    exported = tmp_path / "export.jsonl"
    idnode(demo, "export", "--prefix", "88.118.8", "--output", str(exported), token=token)
    lines = exported.read_text().splitlines()
    assert len(lines) == 10000 + 2500
    first = json.loads(lines[0])
    assert first["handle"] == "88.118.8/DEMO-000001" and first["templateVersion"] == "1.0"
    reimport = idnode(demo, "import", str(exported), "--format", "jsonl", token=token)
    assert "12500 accepted, 0 rejected" in reimport.stdout
    stats = json.loads(idnode(demo, "stats").stdout)
    assert stats["identifiers"] == 12500


def test_second_node_on_a_busy_port_fails_clearly(demo, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "idnode", "serve", "--data-dir", str(tmp_path / "other"), "--grpc-listen", demo.target],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert f"cannot listen on {demo.target}" in proc.stderr


def test_bad_settings_are_usage_errors(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "idnode", "serve", "--data-dir", str(tmp_path), "--grpc-listen", "127.0.0.1:99999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "grpc_listen" in proc.stderr
