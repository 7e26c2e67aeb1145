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

from idnode.proto import resolver_pb2

from .test_hierarchy_node import HANDLE, dns_query, hierarchy, http_get  # noqa: F401 (hierarchy: the fixture)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REPLICA_ONLY = ("idnode_replication_",)  # exported by replicas only (COMMON metrics contract)
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


TARGET_LABELS = {"instance", "job", "node"}  # added by Prometheus (node: deploy/prometheus/prometheus.yml)


def queries() -> list[tuple[str, str]]:
    """``(where, PromQL)`` of every dashboard query and alert expression."""
    dashboard = json.loads((DEPLOY / "grafana/idnode.json").read_text())
    found = [(f"dashboard: {p['title']}", t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]
    found += [
        (f"dashboard variable {v['name']}", v["definition"])
        for v in dashboard["templating"]["list"]
        if v["type"] == "query"
    ]
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    found += [(f"alert {r['alert']}", r["expr"]) for g in rules["groups"] for r in g["rules"]]
    return found


def used_metric_names() -> dict[str, set[str]]:
    """Every ``idnode_*`` name in the dashboard's queries and the alert expressions, with where it is used."""
    used: dict[str, set[str]] = {}
    for where, expr in queries():
        for name in re.findall(r"\bidnode_[a-z0-9_]+", expr):
            used.setdefault(name, set()).add(where)
    return used


def used_labels(expr: str) -> set[str]:
    """Label names an expression matches on (``{name=...}``) or aggregates by (``by (a, b)``)."""
    names = set()
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        names.update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        names.update(label.strip() for label in group.split(",") if label.strip())
    return names


def scrape(node) -> dict[str, set[str]]:
    """Sample names on the node's GET /metrics, each with its label names."""
    with urllib.request.urlopen(f"{node.http}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', rest.rpartition("}")[0])) if rest else set()
            samples.setdefault(name.split(" ")[0], set()).update(labels)
    return samples


def merge(*scrapes: dict[str, set[str]]) -> dict[str, set[str]]:
    merged: dict[str, set[str]] = {}
    for samples in scrapes:
        for name, labels in samples.items():
            merged.setdefault(name, set()).update(labels)
    return merged


def wait_for_names(node, names: set[str], timeout: float = 20) -> dict[str, set[str]]:
    """Scrape until ``names`` are all exported (store gauges and flushed counters may lag a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        exported = scrape(node)
        if names <= set(exported) or time.monotonic() > deadline:
            return exported
        time.sleep(0.5)


def check_exported(names: set[str], exported: dict[str, set[str]], who: str) -> None:
    """Every name in ``names`` is exported, and each query's labels exist on the metrics it names."""
    used = used_metric_names()
    missing = {name: sorted(used[name]) for name in names if name not in exported}
    assert not missing, f"used by deploy/ but not exported by {who}: {missing}"
    for name in names:  # histogram suffixes only on histograms
        if name.endswith(HISTOGRAM_SUFFIXES):
            assert name.rsplit("_", 1)[0] + "_bucket" in exported, name
    for where, expr in queries():
        metrics = set(re.findall(r"\bidnode_[a-z0-9_]+", expr))
        if not metrics or not metrics <= names:
            continue
        available = set().union(*(exported[name] for name in metrics)) | TARGET_LABELS
        unknown = used_labels(expr) - available
        assert not unknown, f"{where}: labels {sorted(unknown)} not on {sorted(metrics)}"


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
    names = {name for name in used_metric_names() if not name.startswith(REPLICA_ONLY)}
    exported = merge(scrape(b), scrape(prefork))
    exported = merge(exported, wait_for_names(a, names - set(exported)))
    check_exported(names, exported, "the primary-side nodes")


def test_replication_metrics_are_exported_by_a_replica(node_factory, tmp_path):
    names = {name for name in used_metric_names() if name.startswith(REPLICA_ONLY)}
    assert names, "the dashboard and alerts should watch replication"
    primary = node_factory("--workers", "1", data_dir=tmp_path / "primary")
    credential = ("--primary-token-file", str(primary.data_dir / "admin.credential"))  # Replication needs one
    replica = node_factory("--replica-of", primary.target, *credential, "--workers", "1", data_dir=tmp_path / "replica")
    check_exported(names, wait_for_names(replica, names), "a replica")


def test_probe_paths_answer(node):
    """The Kubernetes probes' paths on a prefork node: /healthz alive, /readyz ready."""
    for path in ("/healthz", "/readyz"):
        status, _, body = http_get(f"{node.http}{path}")
        assert status == 200, (path, body)


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
