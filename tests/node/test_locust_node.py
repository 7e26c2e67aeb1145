"""Locust against a live node: seed it with `idnode loadtest seed`, run every user type headless for a few
seconds, and read the outcome from Locust's CSV: every user type made requests, none failed.

Locust rewrites the CSV once a second and not at exit, so its last second is
missing there; the exact final totals come from ``--json-file``, written at
exit, and are checked against what the registration user left on the node."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

import idnode.loadtest
from idnode.loadtest.keyfile import read_keys
from idnode.proto import registry_pb2

from .conftest import auth

pytestmark = pytest.mark.node

LOADTEST = Path(idnode.loadtest.__file__).parent
REG_BATCH = 20
# (Type, Name) rows of Locust's stats CSV that each user type must produce.
EXPECTED = {
    ("grpc", "Resolve"): "GrpcResolveUser",
    ("grpc", "Resolve (unknown)"): "GrpcResolveUser",
    ("grpc", "BatchResolve"): "GrpcResolveUser",
    ("grpc", "ResolveStream"): "GrpcResolveUser",
    ("dns", "NAPTR"): "DnsUser",
    ("GET", "/api/handles/[handle]"): "HttpHandleUser",
    ("POST", "/identityv2/data/batchCreate"): "RegistrationUser",
    ("PUT", "/identityv2/data"): "RegistrationUser",
    ("DELETE", "/identityv2/data"): "RegistrationUser",
}


@pytest.fixture
def node(node_factory):
    """A node without per-client rate limits: a load test from one machine is one client (resolver/README.md)."""
    return node_factory("--rate-limit-resolve", "off", "--rate-limit-write", "off")


def _idnode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "idnode", *args], capture_output=True, text=True, timeout=120)


def test_every_user_type_runs_without_failures(node, tmp_path):
    keys_path = tmp_path / "keys.json"
    anonymous = _idnode("loadtest", "seed", "--node", node.target, "--data-dir", str(tmp_path / "none"),
                        "--count", "5", "--keys", str(keys_path))  # fmt: skip
    assert anonymous.returncode == 1 and anonymous.stderr.splitlines()[-1].startswith("error: 402"), anonymous.stderr
    assert not keys_path.exists()
    seed_args = ("loadtest", "seed", "--node", node.target, "--data-dir", str(node.data_dir), "--count", "500",
                 "--keys", str(keys_path))  # fmt: skip
    seeded = _idnode(*seed_args)
    assert seeded.returncode == 0, seeded.stderr
    assert "seeded: 500 accepted (500 new), 0 rejected" in seeded.stdout
    keys = read_keys(keys_path)
    assert len(keys.handles) == 500 and keys.registration is not None
    again = _idnode(*seed_args)
    assert again.returncode == 0 and "seeded: 500 accepted (0 new), 0 rejected" in again.stdout, again.stderr

    prefix = tmp_path / "run"
    run = subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", str(LOADTEST / "locustfile.py"), "--headless",
            "-u", "8", "-r", "8", "-t", "5s", "--stop-timeout", "10", "--only-summary",
            "--csv", str(prefix), "--json-file", str(prefix),
            "--host", node.http, "--grpc-target", node.target, "--dns-target", f"127.0.0.1:{node.dns_port}",
            "--keys", str(keys_path), "--reg-batch", str(REG_BATCH), "--batch-size", "20",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert 'All users spawned: {"DnsUser": 2, "GrpcResolveUser": 2, "HttpHandleUser": 2, "RegistrationUser": 2}' in (
        output
    ), output
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as fh:
        rows = {(row["Type"], row["Name"]): row for row in csv.DictReader(fh)}
    for key, user in EXPECTED.items():
        assert key in rows, f"{user} made no {key} request:\n{output}"
        assert int(rows[key]["Request Count"]) > 0, (key, user)
        assert int(rows[key]["Failure Count"]) == 0, (key, user, output)
    assert set(rows) == set(EXPECTED) | {("", "Aggregated")}, sorted(rows)
    assert int(rows[("", "Aggregated")]["Failure Count"]) == 0
    with open(f"{prefix}_failures.csv", newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh)) == []
    assert run.returncode == 0, output

    final = {(e["method"], e["name"]): e for e in json.loads((tmp_path / "run.json").read_text())}
    assert set(final) == set(EXPECTED)
    for key in EXPECTED:
        assert final[key]["num_failures"] == 0 and final[key]["num_requests"] >= int(rows[key]["Request Count"]), key

    # The registration user's writes are on the node: every batch created REG_BATCH, every delete removed one.
    created = final[("POST", "/identityv2/data/batchCreate")]["num_requests"] * REG_BATCH
    deleted = final[("DELETE", "/identityv2/data")]["num_requests"]
    listed = node.registry().ListPrefixes(registry_pb2.ListPrefixesRequest(), metadata=auth(node.admin_token))
    live = {p.prefix: p.identifiers for p in listed.prefixes}
    assert live[keys.registration.prefix] == created - deleted
    assert live[keys.prefix] == 500


def test_load_shapes_run_and_report(node, tmp_path):
    keys_path = tmp_path / "keys.json"
    seeded = _idnode("loadtest", "seed", "--node", node.target, "--data-dir", str(node.data_dir), "--count", "200",
                     "--keys", str(keys_path))  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    common = ["--headless", "--only-summary", "--host", node.http, "--grpc-target", node.target,
              "--dns-target", f"127.0.0.1:{node.dns_port}", "--keys", str(keys_path)]  # fmt: skip

    def locust(files: str, *args: str) -> subprocess.CompletedProcess[str]:
        paths = ",".join(str(LOADTEST / name) for name in files.split(","))
        return subprocess.run(
            [sys.executable, "-m", "locust", "-f", paths, *common, *args], capture_output=True, text=True, timeout=90
        )

    report = tmp_path / "step.json"
    step = locust("locustfile.py,shape_step.py", "DnsUser", "--step-users", "2", "--step-time", "2",
                  "--step-settle", "0.5", "--step-max-users", "4", "--step-report", str(report))  # fmt: skip
    output = step.stdout + step.stderr
    assert step.returncode == 0, output
    result = json.loads(report.read_text())
    assert result["reason"] and result["steps"], result
    assert [s["users"] for s in result["steps"]] == [2, 4][: len(result["steps"])]
    assert all(s["requests"] > 0 and s["failures"] == 0 and s["client_cores"] > 0 for s in result["steps"]), result
    if result["saturation"] is not None:
        assert result["saturation"] == result["steps"][-1 if result["beyond"] is None else -2]
        assert f"saturation point: {result['saturation']['users']} users" in output
    else:  # a busy machine can push even the first step past the p99 limit
        assert "saturation point: below the first step" in output

    steady = locust("locustfile.py,shape_constant.py", "HttpHandleUser", "-u", "2", "-r", "2", "-t", "3s",
                    "--target-rps", "50", "--json-file", str(tmp_path / "steady"))  # fmt: skip
    output = steady.stdout + steady.stderr
    assert steady.returncode == 0, output
    assert "constant rate: target 50 req/s, achieved" in output
    (entry,) = json.loads((tmp_path / "steady.json").read_text())
    assert entry["num_requests"] > 0 and entry["num_failures"] == 0
