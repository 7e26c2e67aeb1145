"""The top-level node's service logic over a real LMDB: registration, approval, the DR push, resolution, stats."""

from __future__ import annotations

import json

import pytest

from idnode.proto import registry_pb2, toplevel_pb2
from idnode.sync.topnode.service import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    TopLevel,
    Unauthenticated,
)
from idnode.sync.topnode.store import TopStore

ADMIN = "admin-secret"
NODE = "node-secret"
GRPC = toplevel_pb2.SITE_PROTOCOL_GRPC
HTTP = toplevel_pb2.SITE_PROTOCOL_HTTP


@pytest.fixture
def top(tmp_path):
    store = TopStore(tmp_path / "top", map_size=1 << 24)
    yield TopLevel(store, ADMIN, clock=lambda: 1_700_000_000)
    store.close()


def register(top, node_prefix="88.118", credential=NODE, **extra):
    sites = [toplevel_pb2.Site(protocol=GRPC, host="node.example", port=50051)]
    return top.register_node(
        credential, toplevel_pb2.RegisterNodeRequest(node_prefix=node_prefix, sites=sites, node_id="n1", **extra)
    )


def request_prefix(top, prefix="88.118.8", credential=NODE, **extra):
    return top.request_prefix(
        credential,
        toplevel_pb2.RequestPrefixRequest(node_prefix="88.118", prefix=prefix, credit_code="C1", **extra),
    )


def change(sequence, handle="88.118.8/A", kind=toplevel_pb2.CHANGE_KIND_CREATE):
    return toplevel_pb2.Change(sequence=sequence, kind=kind, handle=handle, record=b"r%d" % sequence)


def push(top, *sequences, credential=NODE):
    return top.push_changes(
        credential, toplevel_pb2.PushChangesRequest(node_prefix="88.118", changes=[change(s) for s in sequences])
    )


def fetch(top, after=0, limit=0):
    request = toplevel_pb2.FetchChangesRequest(node_prefix="88.118", after_sequence=after, limit=limit)
    return [c.sequence for c in top.fetch_changes(NODE, request)]


# -- registration and credentials ---------------------------------------------------


def test_register_binds_the_credential_and_reregistration_replaces_sites(top):
    info = register(top)
    assert (info.node_prefix, info.node_id, info.registered) == ("88.118", "n1", 1_700_000_000)
    assert info.sites[0].host == "node.example"
    again = top.register_node(
        NODE,
        toplevel_pb2.RegisterNodeRequest(
            node_prefix="88.118", node_id="n2", sites=[toplevel_pb2.Site(protocol=HTTP, host="h", port=80)]
        ),
    )
    assert again.node_id == "n2" and [s.protocol for s in again.sites] == [HTTP]
    with pytest.raises(PermissionDenied):
        register(top, credential="someone-else")
    with pytest.raises(Unauthenticated):
        register(top, credential=None)


@pytest.mark.parametrize(
    ("site", "prefix"),
    [
        (toplevel_pb2.Site(protocol=GRPC, host="h", port=0), "88.118"),
        (toplevel_pb2.Site(protocol=0, host="h", port=1), "88.118"),
        (toplevel_pb2.Site(protocol=GRPC, host="", port=1), "88.118"),
        (toplevel_pb2.Site(protocol=GRPC, host="h", port=1), "88..118"),
        (toplevel_pb2.Site(protocol=GRPC, host="h", port=1), "88.118/x"),
    ],
)
def test_register_rejects_bad_sites_and_prefixes(top, site, prefix):
    with pytest.raises(InvalidArgument):
        top.register_node(NODE, toplevel_pb2.RegisterNodeRequest(node_prefix=prefix, sites=[site]))


def test_node_calls_need_a_registered_node_and_its_credential(top):
    with pytest.raises(FailedPrecondition):
        push(top, 1)
    register(top)
    with pytest.raises(PermissionDenied):
        push(top, 1, credential="other")
    assert push(top, 1, credential=ADMIN).highest_contiguous == 1  # the admin may act for a node


def test_admin_calls_need_the_admin_credential(top):
    register(top)
    for credential, error in ((None, Unauthenticated), (NODE, PermissionDenied)):
        with pytest.raises(error):
            top.list_nodes(credential, toplevel_pb2.ListNodesRequest())
        with pytest.raises(error):
            top.approve_prefix(credential, toplevel_pb2.PrefixDecision(prefix="88.118.8"))


# -- approval state machine --------------------------------------------------------


def test_prefix_approval_flow(top):
    register(top)
    with pytest.raises(InvalidArgument):
        request_prefix(top, "88.119.8")  # not under the node prefix
    first = request_prefix(top)
    assert first.status == registry_pb2.PREFIX_STATUS_PENDING
    assert request_prefix(top).requested == first.requested  # idempotent
    status = toplevel_pb2.GetPrefixStatusRequest(node_prefix="88.118", prefix="88.118.8")
    assert top.get_prefix_status(NODE, status).status == registry_pb2.PREFIX_STATUS_PENDING
    approved = top.approve_prefix(ADMIN, toplevel_pb2.PrefixDecision(prefix="88.118.8", reason="ok"))
    assert (approved.status, approved.reason) == (registry_pb2.PREFIX_STATUS_APPROVED, "ok")
    assert request_prefix(top).status == registry_pb2.PREFIX_STATUS_APPROVED  # re-request keeps it
    rejected = top.reject_prefix(ADMIN, toplevel_pb2.PrefixDecision(prefix="88.118.8"))  # revocation
    assert rejected.status == registry_pb2.PREFIX_STATUS_REJECTED
    assert request_prefix(top).status == registry_pb2.PREFIX_STATUS_PENDING  # a new request
    with pytest.raises(NotFound):
        top.approve_prefix(ADMIN, toplevel_pb2.PrefixDecision(prefix="88.118.99"))
    listed = top.list_prefixes(
        ADMIN, toplevel_pb2.ListPrefixApprovalsRequest(status=registry_pb2.PREFIX_STATUS_PENDING)
    )
    assert [p.prefix for p in listed.prefixes] == ["88.118.8"]
    assert not top.list_prefixes(
        ADMIN, toplevel_pb2.ListPrefixApprovalsRequest(status=registry_pb2.PREFIX_STATUS_APPROVED)
    ).prefixes


def test_another_node_cannot_take_a_requested_prefix(top):
    register(top)
    register(top, "88", credential="parent")
    request_prefix(top)
    with pytest.raises(PermissionDenied):
        top.request_prefix(
            "parent", toplevel_pb2.RequestPrefixRequest(node_prefix="88", prefix="88.118.8", credit_code="X")
        )


# -- the DR push --------------------------------------------------------------------


def test_push_applies_in_sequence_and_acks_the_highest_contiguous(top):
    register(top)
    ack = push(top, 1, 2, 3)
    assert (ack.highest_contiguous, ack.applied, ack.duplicates, ack.rejected) == (3, 3, 0, 0)
    ack = push(top, 2, 3)  # a resend after a lost ack
    assert (ack.highest_contiguous, ack.applied, ack.duplicates, ack.rejected) == (3, 0, 2, 0)
    ack = push(top, 5, 6)  # a gap: nothing after it is stored
    assert (ack.highest_contiguous, ack.applied, ack.duplicates, ack.rejected) == (3, 0, 0, 2)
    ack = push(top, 6, 4, 5, 4)  # unsorted, with a duplicate inside the batch
    assert (ack.highest_contiguous, ack.applied, ack.duplicates, ack.rejected) == (6, 3, 1, 0)
    assert fetch(top) == [1, 2, 3, 4, 5, 6]
    assert fetch(top, after=4) == [5, 6]
    assert fetch(top, after=1, limit=2) == [2, 3]
    assert fetch(top, after=6) == []
    kept = list(top.fetch_changes(NODE, toplevel_pb2.FetchChangesRequest(node_prefix="88.118", after_sequence=3)))
    assert kept[0] == change(4)  # stored as pushed
    with pytest.raises(InvalidArgument):
        push(top, 0)
    info = top.list_nodes(ADMIN, toplevel_pb2.ListNodesRequest()).nodes[0]
    assert info.highest_contiguous == 6


def test_a_duplicate_keeps_the_first_copy(top):
    register(top)
    push(top, 1)
    top.push_changes(NODE, toplevel_pb2.PushChangesRequest(node_prefix="88.118", changes=[change(1, handle="x")]))
    assert next(top.fetch_changes(NODE, toplevel_pb2.FetchChangesRequest(node_prefix="88.118"))).handle == "88.118.8/A"


def test_dr_copies_of_nodes_are_apart(top):
    register(top)
    register(top, "88.1", credential="other")  # "88.1" sorts before "88.118": keys must not run into each other
    push(top, 1, 2)
    top.push_changes("other", toplevel_pb2.PushChangesRequest(node_prefix="88.1", changes=[change(1)]))
    assert fetch(top) == [1, 2]
    other = top.fetch_changes("other", toplevel_pb2.FetchChangesRequest(node_prefix="88.1"))
    assert [c.sequence for c in other] == [1]


def test_heartbeat_records_the_node_head_and_returns_the_ack(top):
    register(top)
    push(top, 1, 2)
    beat = top.heartbeat(NODE, toplevel_pb2.HeartbeatRequest(node_prefix="88.118", last_sequence=9, time=5))
    assert (beat.highest_contiguous, beat.time) == (2, 1_700_000_000)
    assert top.list_nodes(ADMIN, toplevel_pb2.ListNodesRequest()).nodes[0].last_sequence == 9


# -- resolution -----------------------------------------------------------------------


def test_resolve_prefix_answers(top):
    assert top.resolve_prefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.8")).response_code == 100
    assert top.resolve_prefix(toplevel_pb2.ResolvePrefixRequest(prefix="88..8")).response_code == 102
    register(top)
    own = top.resolve_prefix(toplevel_pb2.ResolvePrefixRequest(prefix="0.NA/88.118"))
    assert (own.response_code, own.handle, own.node_prefix) == (1, "0.NA/88.118", "88.118")
    request_prefix(top)
    pending = top.resolve_prefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.8"))
    assert (pending.response_code, pending.status) == (303, registry_pb2.PREFIX_STATUS_PENDING)
    assert pending.node_prefix == "88.118" and pending.sites[0].port == 50051
    unknown = top.resolve_prefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.9"))
    assert (unknown.response_code, unknown.status) == (303, registry_pb2.PREFIX_STATUS_UNSPECIFIED)
    assert top.resolve_prefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.119.8")).response_code == 100
    top.approve_prefix(ADMIN, toplevel_pb2.PrefixDecision(prefix="88.118.8"))
    approved = top.resolve_prefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.8"))
    assert (approved.response_code, approved.status) == (1, registry_pb2.PREFIX_STATUS_APPROVED)
    (value,) = approved.values
    assert value.type == "HS_SITE"
    assert json.loads(value.data) == {
        "version": 1,
        "primary": True,
        "servers": [{"protocol": "grpc", "host": "node.example", "port": 50051}],
    }


def test_a_prefix_may_register_its_own_sites(top):
    register(top)
    sites = [
        toplevel_pb2.Site(protocol=HTTP, host="ent.example", port=443),
        toplevel_pb2.Site(protocol=HTTP, host="mirror.example", port=443, mirror=True),
    ]
    request_prefix(top, sites=sites)
    top.approve_prefix(ADMIN, toplevel_pb2.PrefixDecision(prefix="88.118.8"))
    reply = top.resolve_prefix(toplevel_pb2.ResolvePrefixRequest(prefix="88.118.8"))
    assert [s.host for s in reply.sites] == ["ent.example", "mirror.example"]
    assert [json.loads(v.data)["primary"] for v in reply.values] == [True, False]


# -- statistics ---------------------------------------------------------------------------


def test_stats_reports_replace_per_day_and_prefix(top):
    register(top)

    def report(day, rows, enterprises=3):
        return top.report_stats(
            NODE,
            toplevel_pb2.StatsReport(
                node_prefix="88.118",
                day=day,
                connected_enterprises=enterprises,
                rows=[toplevel_pb2.PrefixDayStats(prefix=p, registrations=n, resolutions=2 * n) for p, n in rows],
            ),
        )

    assert report("2026-11-28", [("88.118.8", 1), ("88.118.9", 5)]).rows == 2
    report("2026-11-28", [("88.118.8", 4)], enterprises=4)
    report("2026-11-29", [("88.118.8", 7)])
    with pytest.raises(InvalidArgument):
        report("yesterday", [])
    day = top.get_stats(ADMIN, toplevel_pb2.StatsQuery(day="2026-11-28")).reports
    assert len(day) == 1 and day[0].connected_enterprises == 4
    assert [(r.prefix, r.registrations, r.resolutions) for r in day[0].rows] == [
        ("88.118.8", 4, 8),
        ("88.118.9", 5, 10),
    ]
    assert len(top.get_stats(ADMIN, toplevel_pb2.StatsQuery(node_prefix="88.118")).reports) == 2


def test_a_full_map_grows_and_the_push_is_kept(tmp_path):
    store = TopStore(tmp_path / "small", map_size=64 << 10)
    top = TopLevel(store, ADMIN)
    try:
        register(top)
        big = [toplevel_pb2.Change(sequence=s, record=bytes(4096)) for s in range(1, 101)]
        ack = top.push_changes(NODE, toplevel_pb2.PushChangesRequest(node_prefix="88.118", changes=big))
        assert ack.highest_contiguous == 100
        assert store.env.info()["map_size"] > 64 << 10
        assert len(fetch(top)) == 100
    finally:
        store.close()
