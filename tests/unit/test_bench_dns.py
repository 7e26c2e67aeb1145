"""`idnode bench --dns`: the pure parts (record rule, zone file, query files, dnsperf output,
PowerDNS configuration, flags, targets, table). Nothing here needs dnsperf or PowerDNS."""

from __future__ import annotations

import types

import dns.rdatatype
import dns.zone
import pytest

from idnode.loadtest import _bench_dns as bd
from idnode.loadtest import _bench_report as report
from idnode.loadtest import bench, datagen
from idnode.registry.values import Value
from idnode.resolver.dns.names import handle_to_name

# dnsperf 2.10.0 against PowerDNS 4.7.3 on this machine, -v (two of its per-query lines kept).
DNSPERF_SAMPLE = """\
DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 15353 -d q.txt -l 1 -c 4 -q 10 -v
[Status] Sending queries (to 127.0.0.1:15353)
[Status] Started at: Sun Nov 29 06:53:08 2026
[Status] Stopping after 1.000000 seconds
> NOERROR abc._h.8.118.88.id.local. NAPTR 0.000153
> NXDOMAIN zzz._h.8.118.88.id.local. NAPTR 0.000145
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         8676
  Queries completed:    8676 (100.00%)
  Queries lost:         0 (0.00%)

  Response codes:       NOERROR 4338 (50.00%), NXDOMAIN 4338 (50.00%)
  Average packet size:  request 42, response 93
  Run time (s):         1.000261
  Queries per second:   8673.736155

  Average Latency (s):  0.000123 (min 0.000016, max 0.001994)
  Latency StdDev (s):   0.000081

"""


def test_parse_dnsperf_statistics():
    got = bd.parse_dnsperf(DNSPERF_SAMPLE)
    assert got["sent"] == 8676 and got["completed"] == 8676 and got["lost"] == 0
    assert got["qps"] == pytest.approx(8673.736155)
    assert got["run_time"] == pytest.approx(1.000261)
    assert got["avg_ms"] == pytest.approx(0.123)
    assert got["min_ms"] == pytest.approx(0.016)
    assert got["max_ms"] == pytest.approx(1.994)
    assert got["request_bytes"] == 42 and got["response_bytes"] == 93
    assert got["rcodes"] == {"NOERROR": 4338, "NXDOMAIN": 4338}


def test_parse_dnsperf_with_loss_and_without_statistics():
    lossy = DNSPERF_SAMPLE.replace("Queries lost:         0 (0.00%)", "Queries lost:         9 (0.10%)")
    assert bd.parse_dnsperf(lossy)["lost"] == 9
    with pytest.raises(ValueError):
        bd.parse_dnsperf("Error: could not open q.txt\n")


def test_parse_verbose_checks_every_rcode():
    unknown = frozenset({"zzz._h.8.118.88.id.local."})
    lines = DNSPERF_SAMPLE.splitlines() + [
        "> NXDOMAIN abc._h.8.118.88.id.local. NAPTR 0.000400",  # an existing name answered NXDOMAIN
        "> NOERROR zzz._h.8.118.88.id.local. NAPTR 0.000200",  # an unknown one answered NOERROR
        "> SERVFAIL abc._h.8.118.88.id.local. NAPTR 0.000100",
        "> T abc._h.8.118.88.id.local. NAPTR",  # anything else is skipped
    ]
    got = bd.parse_verbose(lines, unknown)
    assert got["latencies"] == sorted([0.000153, 0.000145, 0.0004, 0.0002, 0.0001])
    assert got["wrong_rcodes"] == 3
    assert got["rcode_samples"][0] == "abc._h.8.118.88.id.local.: NXDOMAIN, expected NOERROR"
    assert bd.parse_verbose(DNSPERF_SAMPLE.splitlines(), unknown)["wrong_rcodes"] == 0


def test_percentile():
    values = [i / 1000 for i in range(1, 101)]
    assert bd.percentile(values, 0.5) == 0.05
    assert bd.percentile(values, 0.99) == 0.099
    assert bd.percentile([], 0.5) is None


# -- the records and the zone file -------------------------------------------------------------


def test_naptr_rule():
    values = [
        Value(1, "URL", b"https://example.com/p/a!b\\c", ttl=300),
        Value(2, "URL.spec", b"https://example.com/spec", ttl=600),
        Value(3, "URL", b"https://example.com/private", permissions=0b1100),
        Value(4, "productName", b"Pump"),
        Value(5, "URLS", b"not a url type"),
    ]
    got = bd.naptr_records(values)
    assert got == [
        bd.Naptr(300, 100, 10, "U", "URL", "!^.*$!https://example.com/p/a\\!b\\\\c!", "."),
        bd.Naptr(300, 100, 10, "U", "URL.spec", "!^.*$!https://example.com/spec!", "."),
    ]
    assert bd.naptr_records([Value(4, "productName", b"Pump")]) == []


def test_zone_file_parses_with_dnspython(tmp_path):
    items = list(datagen.generate(200, "88.118.8", 7))
    odd = datagen.item(0, "88.118.8", 7)
    odd = type(odd)("88.118.8/odd", (Value(1, "URL", 'https://h.example/"q"\\批'.encode(), ttl=120),), "1.0")
    items.append(odd)
    names: list[str] = []
    path = tmp_path / "zone.db"
    count = bd.write_zone(path, items, "id.local.", names)
    assert count == len(items)  # one URL value each
    assert names == [handle_to_name(i.handle, "id.local.") for i in items]
    zone = dns.zone.from_file(str(path), origin="id.local.", relativize=False)
    soa = zone.find_rdataset("id.local.", "SOA")
    assert soa.ttl == 3600 and soa[0].minimum == 60 and soa[0].mname.to_text() == "ns.id.local."
    assert zone.find_rdataset("id.local.", "NS")[0].target.to_text() == "ns.id.local."
    assert zone.find_rdataset("ns.id.local.", "A")[0].address == "127.0.0.1"
    naptr_names = [n for n, node in zone.items() if node.get_rdataset(1, dns.rdatatype.NAPTR)]
    assert len(naptr_names) == len(items)
    for item, name in zip(items, names, strict=True):
        rdataset = zone.find_rdataset(name, "NAPTR")
        got = {
            bd.Naptr(
                rdataset.ttl,
                rd.order,
                rd.preference,
                rd.flags.decode(),
                rd.service.decode(),
                rd.regexp.decode(),
                rd.replacement.to_text(),
            )
            for rd in rdataset
        }
        assert got == set(bd.naptr_records(item.values))
    assert bd.naptr_records(odd.values)[0].regexp == '!^.*$!https://h.example/"q"\\\\批!'


def test_zone_string_escapes():
    assert bd.zone_string('a"b\\c') == '"a\\"b\\\\c"'
    assert bd.zone_string("é") == '"\\195\\169"'


# -- query files --------------------------------------------------------------------------------


def test_query_names_mix():
    existing = [f"e{i}.id.local." for i in range(1000)]
    unknown = [f"u{i}.id.local." for i in range(300)]
    got = bd.query_names(existing, unknown, 2000, 0.1, seed=1)
    assert len(got) == 2000
    unknown_set = set(unknown)
    picked_unknown = [n for n in got if n in unknown_set]
    assert len(picked_unknown) == 200
    assert len(set(picked_unknown)) == 200  # each unknown name once while they last
    known = [n for n in got if n not in unknown_set]
    assert sorted(set(known)) == sorted(existing)  # every existing name before any repeats
    assert all(known.count(n) <= 2 for n in existing[:50])
    assert got != sorted(got)  # shuffled
    assert got == bd.query_names(existing, unknown, 2000, 0.1, seed=1)  # deterministic
    only = bd.query_names(existing, unknown, 500, 0.0, seed=2)
    assert len(set(only)) == 500 and not set(only) & unknown_set


def test_query_file_lines(tmp_path):
    bd.write_query_file(tmp_path / "q.txt", ["a.id.local.", "b.id.local."])
    assert (tmp_path / "q.txt").read_text() == "a.id.local. NAPTR\nb.id.local. NAPTR\n"
    assert bd.query_line_count(50_000) == 100_000
    assert bd.query_line_count(1_000_000) == 1_000_000
    assert bd.query_line_count(5_000_000) == 1_000_000


# -- PowerDNS configuration, tools --------------------------------------------------------------


def test_pdns_config(tmp_path):
    off = bd.pdns_config(tmp_path, 5300, caches=False, receivers=2, distributors=3).splitlines()
    on = bd.pdns_config(tmp_path, 5300, caches=True).splitlines()
    for text in (off, on):
        assert "launch=lmdb" in text and f"lmdb-filename={tmp_path}/pdns.lmdb" in text
        assert "local-address=127.0.0.1" in text and "local-port=5300" in text
        assert "guardian=no" in text and "daemon=no" in text and f"socket-dir={tmp_path}" in text
        assert "security-poll-suffix=" in text  # no query leaves the machine
    assert {"cache-ttl=0", "query-cache-ttl=0", "negquery-cache-ttl=0"} <= set(off)
    assert not any("cache-ttl" in line for line in on)
    assert "receiver-threads=2" in off and "distributor-threads=3" in off
    assert bd.PDNS_READY.search("Nov 29 06:53:04 UDP server bound to 127.0.0.1:15353").group(1) == "15353"


def test_missing_tools_says_what_to_run(monkeypatch):
    monkeypatch.setattr(bd.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(bd, "_lmdb_backend_present", lambda: False)
    assert bd.missing_packages() == ["dnsperf", "pdns-server", "pdns-backend-lmdb"]
    with pytest.raises(bd.DnsBenchError, match="sudo apt-get install -y dnsperf pdns-server pdns-backend-lmdb"):
        bd.ensure_tools(install=False)
    monkeypatch.setattr(bd, "missing_packages", lambda: [])
    assert bd.ensure_tools(install=False) == []


# -- flags, figures, targets, table --------------------------------------------------------------


def dns_run(target, kind="existing", rate=10_000.0, **extra):
    run = {
        "series": f"dns-{kind}/{target}",
        "target": target,
        "kind": kind,
        "ok": True,
        "rate": rate,
        "calls": int(rate),
        "items": int(rate),
        "errors": 0,
        "elapsed": 1.0,
        "planned": 1.0,
        "loss": 0.0,
        "p50_ms": 5.0,
        "p99_ms": 9.0,
        "avg_ms": 5.5,
        "response_bytes": 157,
        "client_cpu": 0.3,
        "server_cpu": 1.2,
        "other_cpu": 0.0,
        "items_per_server_cpu_s": rate / 1.2,
        "round": 0,
    }
    run.update(extra)
    run["flags"] = bd.flag_dns_run(run)
    return run


def test_loss_flag_keeps_a_run_out_of_the_median():
    lossy = dns_run("idnode", loss=0.002)
    assert "loss" in lossy["flags"] and not report.good(lossy)
    assert bd.flag_dns_run(dns_run("idnode", loss=0.001)) == []


def fake_dns(runs, count=1_000_000, workers=2):
    args = types.SimpleNamespace(
        count=count,
        workers=workers,
        rounds=5,
        seconds=4.0,
        dns_warmup=1.0,
        dns_clients=16,
        dns_outstanding=100,
        unknown_fraction=0.1,
        pdns_receivers=1,
        pdns_distributors=2,
    )
    return types.SimpleNamespace(
        args=args,
        runs=runs,
        notes=[],
        content={"idnode": [], "pdns-nocache": []},
        prepared={},
        profile=None,
        workers=workers,
        zone="id.local.",
        versions={"dnsperf": "2.10.0", "pdns_server": "4.7.3"},
    )


def test_figures_targets_and_table():
    runs = []
    for r in range(5):
        for kind in bd.MIXES:
            runs.append(dns_run("idnode", kind, 40_000.0 + r, round=r))
            runs.append(dns_run("pdns-nocache", kind, 36_000.0 + r, round=r))
            runs.append(dns_run("pdns-cache", kind, 80_000.0, round=r, packet_cache_hit=0.3))
            runs.append(dns_run("idnode", kind, 1.0, series=f"warmup-dns-{kind}/idnode", round=r))
    runs[0]["loss"] = 0.01  # one lossy idnode run: flagged, out of the median, and the target misses
    runs[0]["flags"] = bd.flag_dns_run(runs[0])
    d = bd.figures(fake_dns(runs))
    assert d["existing"]["idnode"]["rate"] == pytest.approx(40_002.5)  # median of the 4 good runs
    assert d["mix"]["idnode"]["rate"] == 40_002.0
    assert d["mix"]["vs_nocache"] == pytest.approx(40_002 / 36_002)
    assert d["mix"]["vs_cache"] == pytest.approx(40_002 / 80_000)
    assert d["existing"]["pdns-cache"]["packet_cache_hit"] == 0.3
    results = {t["key"]: (t["result"], t["note"]) for t in d["targets"]}
    assert results["dns_existing_vs_pdns_nocache"][0] == "MISS"
    assert "1 idnode run(s) lost > 0.1%" in results["dns_existing_vs_pdns_nocache"][1]
    assert results["dns_mix_vs_pdns_nocache"] == ("PASS", "")
    assert [r["series"] for r in d["flagged_runs"]] == ["dns-existing/idnode"]
    text = bd.render(d)
    assert "PowerDNS-LMDB caches off" in text and "1.11x" in text and "PASS" in text
    assert "30% packet-cache hits" in text
    assert bd.render(d, markdown=True).count("| all existing |") == 3


def test_targets_note_a_smaller_setting_and_missing_figures():
    d = bd.figures(fake_dns([dns_run("idnode"), dns_run("pdns-nocache", rate=5_000.0)], count=50_000, workers=1))
    existing, mix = d["targets"]
    assert existing["result"] == "PASS" and existing["note"] == "50,000 ids, 1 worker(s)"
    assert mix["result"] == "N/A"


def test_profile_summary():
    collapsed = (
        "<module> (a.py:1);serve (server.py:10);respond (answer.py:20) 6\n"
        "<module> (a.py:1);serve (server.py:10);respond (answer.py:21);lookup (store.py:5) 3\n"
        "<module> (a.py:1);epoll_wait (libc.so.6) 1\n"
    )
    got = bd.summarize_profile(collapsed)
    assert got["samples"] == 10
    assert got["self"][0] == ["respond (answer.py)", 0.6]
    assert ["serve (server.py)", 0.9] in got["inclusive"]


def test_bench_options():
    args = bench.parse_args(["--quick", "--dns-only"])
    assert args.dns and args.dns_only and args.dns_warmup == 0.5
    args = bench.parse_args(["--dns", "--dns-clients", "32"])
    assert args.dns and not args.dns_only and args.dns_clients == 32 and args.dns_warmup == 1.0
    with pytest.raises(SystemExit):
        bench.parse_args(["--dns", "--dns-outstanding", "0"])
