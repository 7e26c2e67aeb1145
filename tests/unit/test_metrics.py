"""Unit tests of idnode/metrics.py: tallies flushed into prometheus values equal direct observe()/inc(),
the DNS rcode fold, the writer's group and registration counts, and the scrape-time store gauges."""

from __future__ import annotations

import random

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from idnode import metrics
from idnode.registry import changelog
from idnode.registry.store import Store
from idnode.registry.writer import Writer

ITEM_BOUNDS = tuple(2**j for j in range(metrics.ITEMS_LOW, metrics.ITEMS_HIGH + 1))


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def samples(histogram: Histogram, registry: CollectorRegistry) -> dict:
    out = {}
    for family in registry.collect():
        for s in family.samples:
            if s.name.endswith(("_bucket", "_count")):
                out[(s.name.rsplit("_", 1)[1], s.labels.get("le"))] = s.value
    return out


@pytest.mark.parametrize(
    ("bounds_ns", "low", "high", "scale"),
    [
        (metrics.DURATION_BOUNDS_NS, metrics.DURATION_LOW, metrics.DURATION_HIGH, 1e9),
        (ITEM_BOUNDS, metrics.ITEMS_LOW, metrics.ITEMS_HIGH, 1),
    ],
)
def test_folded_tally_equals_observe(bounds_ns, low, high, scale):
    rng = random.Random(7)
    values = [1, 2, 3, *bounds_ns, *(b + 1 for b in bounds_ns), *(b - 1 for b in bounds_ns if b > 1)]
    values += [rng.randrange(1, 2 ** (high + 3)) for _ in range(2000)]
    direct_registry, folded_registry = CollectorRegistry(), CollectorRegistry()
    buckets = [b / scale for b in bounds_ns]
    direct = Histogram("x_direct", "x", buckets=buckets, registry=direct_registry)
    folded = Histogram("x_folded", "x", buckets=buckets, registry=folded_registry)
    histo = metrics.Histo()
    for v in values:
        direct.observe(v / scale)
        histo.add(v)
    counts, total = histo.take()
    assert histo.take() == ([0] * metrics.SLOTS, 0)  # take() starts again
    metrics._add_to_histogram(folded, metrics._fold(counts, low, high), total / scale)
    assert samples(direct, direct_registry) == samples(folded, folded_registry)
    assert folded._sum.get() == pytest.approx(direct._sum.get())


def test_histo_slot_is_the_smallest_power_of_two_holding_the_value():
    histo = metrics.Histo()
    for v, slot in ((0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (1024, 10), (1025, 11)):
        histo.add(v)
        assert histo.counts[slot] == 1, (v, slot)
        histo.take()


def test_flush_moves_the_tally_once(counting):
    before = value("idnode_requests_total", frontend="grpc", method="Test", code="1")
    before_count = value("idnode_request_duration_seconds_count", frontend="grpc", method="Test")
    before_items = value("idnode_batch_items_sum", frontend="grpc", method="TestBatch")
    for elapsed in (1500, 2_000_000, 3):
        counting.request("grpc", "Test", 1, elapsed)
    counting.batch("grpc", "TestBatch", 100)
    counting.batch("grpc", "TestBatch", 7)
    metrics.flush()
    metrics.flush()  # nothing new: adds nothing
    assert value("idnode_requests_total", frontend="grpc", method="Test", code="1") - before == 3
    assert value("idnode_request_duration_seconds_count", frontend="grpc", method="Test") - before_count == 3
    assert value("idnode_batch_items_sum", frontend="grpc", method="TestBatch") - before_items == 107
    bucket = value("idnode_request_duration_seconds_bucket", frontend="grpc", method="Test", le="2.048e-06")
    assert bucket >= 2  # 3 ns and 1500 ns are at most 2**11 ns


def test_dns_fold_tells_badvers_from_noerror(counting):
    from idnode.resolver.dns.server import _Counts

    class Responder:
        zone = (b"id", b"local")

        def __init__(self) -> None:
            self.badvers = [0, 0]

    responder = Responder()
    counts = _Counts(responder)  # type: ignore[arg-type]
    key = b"\x02_h\x018\x03118\x0288\x02id\x05local\x00\x00#\x00\x01"
    entry = counts.entry(counts.udp, key)
    entry[0] = 5  # header rcode 0: NOERROR, or BADVERS (an extended rcode)
    entry[3] = 2
    counts.entry(counts.udp, b"")[16] = 1  # answered with nothing
    responder.badvers[0] = 2
    counts.recursive("tcp", b"\x00\x00\x81\x05", 1000)  # REFUSED over TCP
    counts.fold(counting)
    assert counting.requests == {
        ("dns", "udp", "NOERROR"): 3,
        ("dns", "udp", "BADVERS"): 2,
        ("dns", "udp", "NXDOMAIN"): 2,
        ("dns", "udp", metrics.DNS_DROPPED): 1,
        ("dns", "tcp", "REFUSED"): 1,
    }
    assert counting.take_usage() == {("88.118.8", "dns"): [5, 2]}
    assert responder.badvers == [0, 0] and counts.udp == {} and counts.tcp == {}
    assert sum(counting.durations[("dns", "tcp")].counts) == 1


def test_writer_counts_groups_and_committed_creations(counting, tmp_path):
    store = Store(tmp_path / "data", map_size=1 << 20)
    writer = Writer(store)
    before = value("idnode_registrations_total", prefix="88.118.77")
    groups = value("idnode_write_group_size_count")

    def creates(ctx):
        ctx.log(changelog.OP_CREATE, "identifiers", b"88.118.77\x00A", b"", "t")
        ctx.log(changelog.OP_CREATE, "identifiers", b"0.na\x0088.118.77", b"", "t")  # an allocation
        with pytest.raises(ValueError), ctx.nested():  # rolled back: not a registration
            ctx.log(changelog.OP_CREATE, "identifiers", b"88.118.77\x00B", b"", "t")
            raise ValueError
        ctx.log(changelog.OP_UPDATE, "identifiers", b"88.118.77\x00A", b"", "t")

    def fails(ctx):
        ctx.log(changelog.OP_CREATE, "identifiers", b"88.118.77\x00C", b"", "t")
        raise RuntimeError("boom")

    try:
        writer.run(creates)
        with pytest.raises(Exception, match="write failed"):
            writer.run(fails)
    finally:
        store.close()
    assert value("idnode_registrations_total", prefix="88.118.77") - before == 1
    assert value("idnode_write_group_size_count") - groups == 2


def test_store_gauges_and_exposition(counting, tmp_path):
    store = Store(tmp_path / "data", map_size=1 << 20)
    writer = Writer(store)
    try:
        writer.run(lambda ctx: ctx.log(changelog.OP_PUT, "meta", b"k", b"v", "t"))
        text, content_type = metrics.exposition(store, top=False)
        assert content_type.startswith("text/plain")
        found = {
            s.name: s.value
            for family in text_string_to_metric_families(text.decode())
            for s in family.samples
            if s.name.startswith(("idnode_lmdb", "idnode_changelog", "idnode_sync"))
        }
        usage = store.usage()
        assert found == {
            "idnode_lmdb_map_size_bytes": usage["map_size"],
            "idnode_lmdb_used_bytes": usage["map_used"],
            "idnode_lmdb_readers": pytest.approx(usage["readers_used"], abs=1),
            "idnode_changelog_sequence": 1,
            "idnode_sync_lag_sequences": 0,
            "idnode_sync_lag_seconds": 0,
        }
        view = metrics.StoreView(store, top=True, now=1e12)  # with a top node: one unacknowledged change
        lag = {name: fn(view) for name, _, fn in metrics.STORE_GAUGES if name.startswith("idnode_sync")}
        assert lag["idnode_sync_lag_sequences"] == 1 and lag["idnode_sync_lag_seconds"] > 0
    finally:
        store.close()


def test_metrics_off_counts_nothing():
    saved = metrics._TALLY
    metrics._TALLY = None
    try:
        from idnode.resolver.grpc.resolver_service import ResolverService

        assert ResolverService(object())._tally is None
        metrics.flush()  # a no-op
    finally:
        metrics._TALLY = saved


def test_dns_keys_and_prefixes_of_questions():
    from idnode.resolver.dns import names
    from idnode.resolver.dns.server import _Counts

    class Responder:
        zone = (b"id", b"local")

        def __init__(self) -> None:
            self.badvers = [0, 0]

    counts = _Counts(Responder())  # type: ignore[arg-type]

    def key(name: str) -> bytes:
        """What the hot loop keys a query by: the question after its first label."""
        wire = b"\x00" * 12 + b"".join(bytes((len(x),)) + x for x in names.text_to_labels(name)) + b"\x00\x00#\x00\x01"
        return wire[13 + wire[12] :]

    one = key(names.handle_to_name("88.118.8/P-1"))
    assert counts.prefix_of(one) == "88.118.8"
    assert counts.prefix_of(key(names.handle_to_name("88.118.8/P-1").upper())) == "88.118.8"  # 0x20
    assert counts.prefix_of(key("x._h.9.118.88.other.zone.")) is None  # another zone
    assert counts.prefix_of(key("x._h.id.local.")) is None  # no prefix labels
    assert counts.prefix_of(b"") is None
    # a suffix of several labels shares the entry of its bytes from the marker on; other names share b""
    long_name = names.handle_to_name("88.118.8/" + "L" * 60)
    assert counts.entry(counts.udp, key(long_name)) is counts.entry(counts.udp, one)
    assert counts.entry(counts.udp, key("1.2.3.gtin.id.local.")) is counts.entry(counts.udp, b"")
    assert set(counts.udp) == {one, b""}


def test_metrics_cost_figures_pair_the_two_nodes():
    from idnode.loadtest import _bench_metrics

    def run(series, target, rate, cpu, flags=()):
        return {
            "series": f"{series}/{target}",
            "target": target,
            "rate": rate,
            "server_cpu": cpu,
            "items_per_server_cpu_s": rate / cpu,
            "flags": list(flags),
            "errors": 0,
            "ok": True,
        }

    runs = [run("dns-existing", "idnode", r, 0.5) for r in (90.0, 100.0, 110.0)]
    runs += [run("dns-existing", "idnode-nometrics", r, 0.5) for r in (95.0, 105.0, 125.0)]
    runs += [run("warmup-dns-existing", "idnode", 1.0, 0.5), run("dns-existing", "pdns-cache", 999.0, 1.0)]
    runs += [run("batch", "idnode", 10.0, 1.0)]  # no baseline: no row
    fig = _bench_metrics.figures(runs)
    assert [r["series"] for r in fig["rows"]] == ["dns-existing"]
    row = fig["rows"][0]
    assert (row["on"], row["off"], row["runs"]) == (100.0, 105.0, (3, 3))
    assert row["ratio"] == pytest.approx(100 / 105) and row["per_cpu_ratio"] == pytest.approx(200 / 210)
    assert "0.95x" in _bench_metrics.render(fig)
