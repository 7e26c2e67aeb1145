"""Whole-node metrics tests: ``GET /metrics`` of a real node linted against the metrics contract and the
README, and counts that add up across prefork workers (also after one is killed)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from idnode import metrics
from idnode.proto import common_pb2, registry_pb2, resolver_pb2, toplevel_pb2, toplevel_pb2_grpc
from idnode.resolver.dns import names

from .conftest import auth, children_of, setup_enterprise

pytestmark = pytest.mark.node

HEAD = "91440300192203821"
README = Path(__file__).resolve().parents[2] / "README.md"

# The metrics contract (COMMON brief; names and labels are fixed): name -> (type, labels).
# The replication metrics are added by read replicas (a later change) and are left out here.
CONTRACT = {
    "idnode_requests_total": ("counter", {"frontend", "method", "code"}),
    "idnode_request_duration_seconds": ("histogram", {"frontend", "method"}),
    "idnode_batch_items": ("histogram", {"frontend", "method"}),
    "idnode_write_group_size": ("histogram", set()),
    "idnode_recursion_cache_total": ("counter", {"cache", "result"}),
    "idnode_lmdb_map_size_bytes": ("gauge", set()),
    "idnode_lmdb_used_bytes": ("gauge", set()),
    "idnode_lmdb_readers": ("gauge", set()),
    "idnode_changelog_sequence": ("gauge", set()),
    "idnode_sync_lag_sequences": ("gauge", set()),
    "idnode_sync_lag_seconds": ("gauge", set()),
    "idnode_registrations_total": ("counter", {"prefix"}),
    "idnode_worker_restarts_total": ("counter", set()),
    "idnode_build_info": ("gauge", {"version", "role"}),
}
LABEL_VALUES = {"frontend": {"grpc", "dns", "http"}, "cache": {"site", "answer"}, "result": {"hit", "miss"}}
UNIT_SUFFIXES = ("_seconds", "_bytes")  # base units only: no _ms, _milliseconds, _kb ...
FORBIDDEN_UNITS = re.compile(r"_(ms|milliseconds|microseconds|us|ns|minutes|hours|kb|mb|gb|kib|mib|gib)(_|$)")


def scrape(node) -> str:
    with urllib.request.urlopen(f"{node.http}/metrics", timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        return reply.read().decode()


def families(text: str) -> dict:
    """Exported families by their full name (a counter's ``_total`` kept)."""
    out = {}
    for family in text_string_to_metric_families(text):
        name = family.name + ("_total" if family.type == "counter" else "")
        out[name] = family
    return out


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def wait_for(node, predicate, timeout: float = 15.0) -> str:
    """Scrape until ``predicate(text)`` holds (other workers flush once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = scrape(node)
        except (ConnectionError, urllib.error.URLError):  # a connection queued at a killed worker is reset
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            continue
        if predicate(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def readme_metrics() -> set[str]:
    """The metric names listed in the top-level README's Metrics section."""
    text = README.read_text()
    section = text.split("\n### Metrics\n", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `(idnode_[a-z_]+)`", section, re.M))


def create(node, token: str, handle: str, url: str = "https://x.example/") -> None:
    value = common_pb2.HandleValue(index=1, type="URL", data=url.encode())
    result = node.registry().CreateIdentifier(
        registry_pb2.IdentifierWrite(handle=handle, values=[value]), metadata=auth(token)
    )
    assert result.response_code == 1


def dns_query(node, handle: str, sock: socket.socket | None = None) -> dns.message.Message:
    query = dns.message.make_query(names.handle_to_name(handle), "NAPTR")
    return dns.query.udp(query, "127.0.0.1", port=node.dns_port, timeout=5, sock=sock)


def test_metrics_lint_against_contract_and_readme(node_factory):
    node = node_factory("--workers", "1")
    token = setup_enterprise(node, HEAD, "88.118.8")
    create(node, token, "88.118.8/M-1")
    with pytest.raises(grpc.RpcError):  # exists with other values: Handle code 101
        create(node, token, "88.118.8/M-1", "https://other.example/")
    items = [
        registry_pb2.IdentifierWrite(
            handle=f"88.118.8/B-{i}", values=[common_pb2.HandleValue(index=1, type="URL", data=b"https://x.example/")]
        )
        for i in range(3)
    ]
    batch = node.registry().BatchCreate(registry_pb2.BatchCreateRequest(items=items), metadata=auth(token))
    assert [r.response_code for r in batch.results] == [1, 1, 1]
    resolver = node.resolver()
    resolver.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/M-1"))
    with pytest.raises(grpc.RpcError):
        resolver.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/NOPE"))
    handles = ["88.118.8/M-1", "88.118.8/B-0", "88.118.8/NOPE"]
    resolver.BatchResolve(resolver_pb2.BatchResolveRequest(handles=handles))
    assert dns_query(node, "88.118.8/M-1").rcode() == 0
    assert dns_query(node, "88.118.8/NOPE").rcode() == 3
    urllib.request.urlopen(f"{node.http}/api/handles/88.118.8/M-1", timeout=10).read()
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{node.http}/api/handles/88.118.8/NOPE", timeout=10)

    text = scrape(node)  # one process: the scrape flushes what it counted
    exported = families(text)

    # every contract metric is exported with its type and exactly its labels
    for name, (kind, labels) in CONTRACT.items():
        assert name in exported, f"{name} not exported"
        family = exported[name]
        assert family.type == kind, (name, family.type)
        assert family.samples, f"{name} has no samples"
        for s in family.samples:
            assert set(s.labels) - {"le"} == labels, (name, s.labels)
            for label, allowed in LABEL_VALUES.items():
                if label in s.labels:
                    assert s.labels[label] in allowed, (name, s.labels)
    # naming rules, on every idnode metric (including ones not in the contract)
    for name, family in exported.items():
        assert name.startswith("idnode_"), name
        assert (family.type == "counter") == name.endswith("_total"), name
        assert not FORBIDDEN_UNITS.search(name), f"{name}: use base units (_seconds, _bytes)"
        if "duration" in name or "lag_seconds" in name:
            assert name.endswith(UNIT_SUFFIXES), name
    unknown = set(exported) - set(CONTRACT) - {n for n in exported if n.startswith("idnode_replication_")}
    assert not unknown, f"exported but not in the contract: {unknown}"
    # the README lists exactly what is exported
    assert readme_metrics() == set(exported), readme_metrics() ^ set(exported)

    # and the values say what happened
    assert sample(text, "idnode_requests_total", frontend="grpc", method="Resolve", code="1") == 1
    assert sample(text, "idnode_requests_total", frontend="grpc", method="Resolve", code="100") == 1
    assert sample(text, "idnode_requests_total", frontend="grpc", method="BatchResolve", code="1") == 1
    assert sample(text, "idnode_requests_total", frontend="grpc", method="CreateIdentifier", code="1") == 1
    assert sample(text, "idnode_requests_total", frontend="grpc", method="CreateIdentifier", code="101") == 1
    assert sample(text, "idnode_requests_total", frontend="grpc", method="BatchCreate", code="1") == 1
    assert sample(text, "idnode_requests_total", frontend="dns", method="udp", code="NOERROR") == 1
    assert sample(text, "idnode_requests_total", frontend="dns", method="udp", code="NXDOMAIN") == 1
    assert sample(text, "idnode_requests_total", frontend="http", method="GET /api/handles/{handle}", code="200") == 1
    assert sample(text, "idnode_requests_total", frontend="http", method="GET /api/handles/{handle}", code="404") == 1
    assert sample(text, "idnode_batch_items_count", frontend="grpc", method="BatchResolve") == 1
    assert sample(text, "idnode_batch_items_sum", frontend="grpc", method="BatchResolve") == 3
    assert sample(text, "idnode_batch_items_bucket", frontend="grpc", method="BatchResolve", le="2.0") == 0
    assert sample(text, "idnode_batch_items_bucket", frontend="grpc", method="BatchResolve", le="4.0") == 1
    assert sample(text, "idnode_batch_items_sum", frontend="grpc", method="BatchCreate") == 3
    assert sample(text, "idnode_request_duration_seconds_count", frontend="grpc", method="Resolve") == 2
    assert sample(text, "idnode_registrations_total", prefix="88.118.8") == 4
    assert sample(text, "idnode_changelog_sequence") >= 4
    assert sample(text, "idnode_lmdb_map_size_bytes") >= 1 << 20
    assert 0 < sample(text, "idnode_lmdb_used_bytes") <= sample(text, "idnode_lmdb_map_size_bytes")
    assert sample(text, "idnode_worker_restarts_total") == 0
    group_count = sample(text, "idnode_write_group_size_count")
    assert group_count >= 1 and sample(text, "idnode_write_group_size_sum") >= group_count


def test_no_metrics_switch(node_factory):
    node = node_factory("--workers", "1", "--no-metrics")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{node.http}/metrics", timeout=10)
    assert info.value.code == 404
    assert not metrics.default_dir(node.data_dir).exists()
    assert not (node.data_dir / "metrics").exists()


def test_prefork_counts_add_up_across_workers_and_restarts(node_factory):
    node = node_factory("--workers", "2")
    token = setup_enterprise(node, HEAD, "88.118.8")
    create(node, token, "88.118.8/W-1")
    with pytest.raises(grpc.RpcError):  # forwarded to the writer; the worker counts its Handle code, 101
        create(node, token, "88.118.8/W-1", "https://other.example/")
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(16)]  # SO_REUSEPORT spreads by port
    rounds = 5
    try:
        for _ in range(rounds):
            for sock in sockets:
                assert dns_query(node, "88.118.8/W-1", sock).rcode() == 0
    finally:
        for sock in sockets:
            sock.close()
    sent = rounds * len(sockets)
    channels = [grpc.insecure_channel(node.target) for _ in range(8)]
    try:
        for channel in channels:
            stub = channel.unary_unary("/idnode.v1.Resolver/Resolve")
            stub(resolver_pb2.ResolveRequest(handle="88.118.8/W-1").SerializeToString(), timeout=10)
    finally:
        for channel in channels:
            channel.close()

    def dns_total(text: str) -> float:
        return sample(text, "idnode_requests_total", frontend="dns", method="udp", code="NOERROR")

    text = wait_for(node, lambda t: dns_total(t) >= sent)
    assert dns_total(text) == sent
    assert sample(text, "idnode_request_duration_seconds_count", frontend="dns", method="udp") == sent
    assert sample(text, "idnode_requests_total", frontend="grpc", method="Resolve", code="1") == len(channels)
    assert sample(text, "idnode_requests_total", frontend="grpc", method="CreateIdentifier", code="1") == 1
    assert sample(text, "idnode_requests_total", frontend="grpc", method="CreateIdentifier", code="101") == 1

    # both workers answered some of them: per-process files hold each one's share
    from prometheus_client.multiprocess import MultiProcessCollector

    workers = children_of(node.proc.pid)
    shares = []
    for pid in workers:
        files = [str(p) for p in metrics.default_dir(node.data_dir).glob(f"counter_{pid}.db")]
        total = 0.0
        for family in MultiProcessCollector.merge(files, accumulate=True) if files else ():
            for s in family.samples:
                if s.name == "idnode_requests_total" and s.labels.get("frontend") == "dns":
                    total += s.value
        shares.append(total)
    assert sum(shares) == sent
    assert sum(1 for share in shares if share > 0) >= 2, shares  # writer 0, both workers > 0

    # a killed worker is restarted; what it counted (flushed) stays in the totals
    victim = max(zip(shares, workers, strict=True))[1]
    import os

    os.kill(victim, signal.SIGKILL)
    text = wait_for(node, lambda t: sample(t, "idnode_worker_restarts_total") >= 1, timeout=30)
    assert sample(text, "idnode_worker_restarts_total") == 1
    assert dns_total(text) == sent


def test_per_prefix_resolutions_and_errors_reach_the_top_node(tmp_path, node_factory):
    """A prefork node with --top counts resolutions and errors per prefix in its workers (gRPC, DNS,
    HTTP), the writer keeps the day's totals, `idnode stats` shows them and ReportStats carries them."""
    from .conftest import TopNode
    from .test_hierarchy_node import approve_on_top, create_when_allowed, http_get

    top = TopNode(tmp_path / "top").start()
    try:
        target = f"127.0.0.1:{top.port}"
        flags = ("--node-prefix", "88.118", "--top", target, "--workers", "2", "--stats-interval", "1")
        a = node_factory(*flags, data_dir=tmp_path / "a")
        token = setup_enterprise(a, HEAD, "88.118.8")
        approve_on_top(top, a, "88.118.8")
        create_when_allowed(a, token)  # 88.118.8/X
        resolver = a.resolver()
        for _ in range(3):
            resolver.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/X"))
        with pytest.raises(grpc.RpcError):
            resolver.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/NOPE"))
        assert dns_query(a, "88.118.8/X").rcode() == 0
        assert dns_query(a, "88.118.8/NOPE").rcode() == 3
        assert http_get(f"{a.http}/api/handles/88.118.8/X")[0] == 200
        assert http_get(f"{a.http}/api/handles/88.118.8/NOPE")[0] == 404
        batch = resolver.BatchResolve(resolver_pb2.BatchResolveRequest(handles=["88.118.8/X", "88.118.8/NO", "x"]))
        assert [r.response_code for r in batch.results] == [1, 100, 102]  # "x": no prefix, not counted
        expected = (3 + 1 + 1 + 1, 1 + 1 + 1 + 1)  # (resolutions, errors): gRPC, DNS, HTTP, the batch

        admin = (top.data_dir / "admin.credential").read_text().strip()
        deadline = time.monotonic() + 30
        seen = None
        with grpc.insecure_channel(top.target) as channel:
            stub = toplevel_pb2_grpc.TopLevelStub(channel)
            while time.monotonic() < deadline:
                reports = stub.GetStats(toplevel_pb2.StatsQuery(node_prefix="88.118"), metadata=auth(admin), timeout=10)
                rows = [r for report in reports.reports for r in report.rows if r.prefix == "88.118.8"]
                seen = max(((r.resolutions, r.errors) for r in rows), default=None)
                if seen == expected:
                    break
                time.sleep(0.5)
        assert seen == expected
        assert any(r.registrations == 1 for report in reports.reports for r in report.rows if r.prefix == "88.118.8")

        done = subprocess.run(
            [sys.executable, "-m", "idnode", "stats", "--node", a.target, "--token", a.admin_token],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        per = {row["prefix"]: row for row in json.loads(done.stdout)["per_prefix"]}
        assert (per["88.118.8"]["resolutions_today"], per["88.118.8"]["errors_today"]) == expected
    finally:
        top.stop()
