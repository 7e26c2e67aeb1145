"""The pure parts of `idnode bench --replica`: matching writes to the replica's head, the table (no processes)."""

from __future__ import annotations

import pytest

from idnode.loadtest import _bench_replica as replica
from idnode.loadtest import bench


def test_visibility_lag_is_the_first_poll_at_or_past_the_write():
    heads = [(1.00, 10), (1.01, 10), (1.02, 15), (1.03, 20), (1.04, 20), (1.05, 30)]
    acks = [
        (1.005, 12),  # reached at 1.02
        (1.021, 15),  # the poll before the reply already saw it: 0
        (1.025, 20),  # reached at 1.03
        (1.045, 31),  # never reached: left out
    ]
    assert replica.visibility_lags(acks, heads) == pytest.approx([0.015, 0.0, 0.005])
    assert replica.visibility_lags([], heads) == []
    assert replica.visibility_lags(acks, []) == []


def test_table_rows_and_render():
    fig = {
        "count": 1000,
        "workers": 2,
        "replica_workers": 1,
        "replay": {"entries": 1009, "seconds": 2.0, "rate": 504.5},
        "steady": {
            "target_rate": 1000.0,
            "achieved_rate": 990.0,
            "ack": {"n": 3, "median": 0.01, "p99": 0.02, "max": 0.02},
            "visible": {"n": 3, "median": 0.005, "p99": 0.03, "max": 0.03},
            "lag_sequences": {"median": 0.0, "max": 100.0},
            "lag_seconds": {"median": 0.0, "max": 0.05},
        },
        "catchup": {"entries": 5000, "write_rate": 5000.0, "seconds": 0.25, "rate": 20000.0, "ratio": 4.0},
        "bootstrap": {"identifiers": 1001, "seconds": 0.5, "speedup": 4.0},
        "checksums_equal": True,
        "notes": ["a note"],
    }
    rows = replica.rows_of(fig)
    assert ["(a) replay", "apply rate", "504 entries/s"] in rows
    assert ["(c) catch-up", "apply rate", "20,000 entries/s (4x the write rate)"] in rows
    assert ["(d) bootstrap", "vs (a) replaying the log", "4x faster"] in rows
    assert ["check", "replicas' idnode checksum = primary's", "yes"] in rows
    assert ["(b) steady", "reply -> on the replica median / p99 / max", "5.0 ms / 30.0 ms / 30.0 ms (n=3)"] in rows
    text = replica.render(fig)
    assert "read replicas (1,000 identifiers; primary --workers 2, replicas --workers 1" in text
    assert "note: a note" in text
    assert "| (d) bootstrap |" in replica.render(fig, markdown=True)
    assert replica.rows_of({"checksums_equal": False}) == [["check", "replicas' idnode checksum = primary's", "NO"]]
    tls = {"entries": 2000, "rounds": 3, "plain_s": 0.5, "tls_s": 0.625, "plain_rate": 4000.0, "tls_rate": 3200.0}
    rows = replica.rows_of({"tls": {**tls, "ratio": 0.8}})
    assert ["(e) TLS replay", "apply rate clear / TLS", "4,000 / 3,200 entries/s (0.8x)"] in rows
    assert ["(e) TLS replay", "mutual TLS: start -> caught up, median", "625.0 ms"] in rows


def test_bench_options():
    args = bench.parse_args(["--replica-only", "--quick"])
    assert args.replica and args.replica_backlog == 10_000 and args.replica_rate == 1000.0
    assert args.replica_seconds == 5.0 and args.replica_workers == 1 and not args.replica_tls
    assert bench.parse_args(["--replica-only", "--replica-tls"]).replica_tls
    assert bench.parse_args(["--replica", "--replica-backlog", "7"]).replica_backlog == 7
    for bad in (["--replica-only", "--sync-only"], ["--replica", "--replica-rate", "0"]):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)
