"""deploy/ against live nodes: every metric the Grafana dashboard and the alert rules use is exported on /metrics,
the probe paths of the Kubernetes manifests answer, and the image's HEALTHCHECK command works.

The hierarchy of test_hierarchy_node (a top-level node, node A holding a
handle and pushing upward, node B resolving it recursively) after gRPC,
batch, HTTP and DNS requests on both, plus a prefork node (``--workers 2``):
between them every front end, a write, a batch, the recursion caches, the
upward sync and the supervisor have run before the scrape. A replica of A
(``--replica-of``) adds the replication metrics.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from idnode.cli import main as cli_main
from idnode.proto import resolver_pb2

from .test_hierarchy_node import HANDLE, dns_query, hierarchy, http_get  # noqa: F401 (hierarchy: the fixture)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REPLICA_ONLY = ("idnode_replication_",)  # exported by replicas only (COMMON metrics contract)
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def used_metric_names() -> dict[str, set[str]]:
    """Every ``idnode_*`` name in the dashboard's queries and the alert expressions, with where it is used."""
    used: dict[str, set[str]] = {}
    dashboard = json.loads((DEPLOY / "grafana/idnode.json").read_text())
    queries = [(f"dashboard: {p['title']}", t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [(f"dashboard variable {v['name']}", v.get("definition", "")) for v in dashboard["templating"]["list"]]
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    queries += [(f"alert {r['alert']}", r["expr"]) for g in rules["groups"] for r in g["rules"]]
    for where, expr in queries:
        for name in re.findall(r"\bidnode_[a-z0-9_]+", expr):
            used.setdefault(name, set()).add(where)
    return used


def scrape(node) -> set[str]:
    """Sample names on the node's GET /metrics (skips while this branch has no metrics module)."""
    if importlib.util.find_spec("idnode.metrics") is None:
        pytest.skip("GET /metrics is not on this branch yet (idnode/metrics.py, the metrics work)")
    with urllib.request.urlopen(f"{node.http}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def wait_for_names(node, names: set[str], timeout: float = 20) -> set[str]:
    """Scrape until ``names`` are all exported (store gauges and flushed counters may lag a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        exported = scrape(node)
        if names <= exported or time.monotonic() > deadline:
            return exported
        time.sleep(0.5)


def serve_has(option: str) -> bool:
    return any(option in p.opts for p in cli_main.commands["serve"].params)


@pytest.fixture
def traffic(request):
    """The hierarchy of test_hierarchy_node (A holds HANDLE), B having resolved it: every front end used on both."""
    top, a, b = request.getfixturevalue("hierarchy")
    for node in (a, b):
        resolver = node.resolver()
        assert resolver.Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10).response_code == 1
        batch = resolver.BatchResolve(resolver_pb2.BatchResolveRequest(handles=[HANDLE, HANDLE]), timeout=10)
        assert [r.response_code for r in batch.results] == [1, 1]
        assert http_get(f"{node.http}/api/handles/{HANDLE}")[0] == 200
        assert dns_query(node, HANDLE).answer
    return top, a, b


def test_dashboard_and_alert_metrics_are_exported(traffic, node_factory, tmp_path):
    _, a, b = traffic
    prefork = node_factory("--workers", "2", data_dir=tmp_path / "prefork")  # supervisor, writer, two workers
    assert http_get(f"{prefork.http}/api/handles/{HANDLE}")[0] == 404  # served by a worker
    used = used_metric_names()
    primary_names = {name for name in used if not name.startswith(REPLICA_ONLY)}
    exported = scrape(b) | scrape(prefork)
    exported |= wait_for_names(a, primary_names - exported)
    missing = {name: sorted(used[name]) for name in primary_names if name not in exported}
    assert not missing, f"used by deploy/ but exported by no node: {missing}"
    # Names appear with their histogram suffixes only where the family is a histogram, and vice versa.
    for name in primary_names:
        if name.endswith(HISTOGRAM_SUFFIXES):
            assert name.rsplit("_", 1)[0] + "_bucket" in exported, name

    replica_names = {name for name in used if name.startswith(REPLICA_ONLY)}
    assert replica_names, "the dashboard and alerts should watch replication"
    if not serve_has("--replica-of"):
        pytest.skip(f"no --replica-of on this branch: not checked yet: {sorted(replica_names)}")
    replica = node_factory("--replica-of", a.target, "--workers", "1", data_dir=tmp_path / "replica")
    exported = wait_for_names(replica, replica_names)
    missing = {name: sorted(used[name]) for name in replica_names if name not in exported}
    assert not missing, f"used by deploy/ but not exported by a replica: {missing}"


def test_probe_paths_answer(traffic):
    """The Kubernetes probes' paths: /healthz alive, /readyz ready on a serving node."""
    _, a, b = traffic
    for node in (a, b):
        status, _, body = http_get(f"{node.http}/healthz")
        assert status == 200, body
    if importlib.util.find_spec("idnode.health") is None:
        pytest.skip("GET /readyz is not on this branch yet (idnode/health.py, the ops work)")
    for node in (a, b):
        status, _, body = http_get(f"{node.http}/readyz")
        assert status == 200, body


def healthcheck_command() -> list[str]:
    parser = DockerfileParser(path=str(DEPLOY / "Dockerfile"))
    (value,) = [i["value"] for i in parser.structure if i["instruction"] == "HEALTHCHECK"]
    command = json.loads(value.split("CMD", 1)[1])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def test_image_healthcheck_command_against_a_live_node(node, tmp_path):
    command = healthcheck_command()
    env = {"IDNODE_HTTP_LISTEN": f"0.0.0.0:{node.http_port}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    node.stop()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0  # a stopped node is unhealthy
    assert "Connection refused" in done.stderr
