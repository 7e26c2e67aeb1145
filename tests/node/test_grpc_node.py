"""Whole-node tests over gRPC: a real `idnode serve` process, real LMDB."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from idnode.proto import common_pb2, registry_pb2, resolver_pb2

from .conftest import auth, credit_code, setup_enterprise

A_HEAD, B_HEAD = "91440300192203821", "91110108MA01A0B2D"


def value(index, vtype, data, permissions=None):
    v = common_pb2.HandleValue(index=index, type=vtype, data=data.encode())
    if permissions is not None:
        v.permissions = permissions
    return v


def handle_error(err: grpc.RpcError) -> common_pb2.HandleError:
    status = rpc_status.from_call(err)
    assert status is not None, "no rich status details"
    detail = common_pb2.HandleError()
    assert status.details[0].Unpack(detail)
    return detail


def expect_error(call, grpc_code, handle_code):
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc_code
    detail = handle_error(info.value)
    assert detail.response_code == handle_code
    return detail


@pytest.fixture
def world(node):
    """A node with enterprises A (88.118.8) and B (88.118.9)."""
    return node, setup_enterprise(node, A_HEAD, "88.118.8"), setup_enterprise(node, B_HEAD, "88.118.9")


def test_register_then_resolve(world):
    node, a, _ = world
    reg, res = node.registry(), node.resolver()
    result = reg.CreateIdentifier(
        registry_pb2.IdentifierWrite(
            handle="88.118.8/JXDY2106023",
            values=[
                value(1, "URL", "https://a.example/p/1"),
                value(2, "note", "internal", permissions=0b1100),
            ],
        ),
        metadata=auth(a),
    )
    assert (result.response_code, result.created) == (1, True) and result.sequence > 0
    answer = res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023"))
    assert answer.response_code == 1 and answer.handle == "88.118.8/JXDY2106023"
    assert [(v.index, v.type, v.data) for v in answer.values] == [(1, "URL", b"https://a.example/p/1")]
    assert answer.values[0].ttl == 86400 and answer.values[0].timestamp > 0
    owner_view = res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023"), metadata=auth(a))
    assert [v.type for v in owner_view.values] == ["URL", "note"]
    filtered = res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/JXDY2106023", types=["URL"]), metadata=auth(a))
    assert [v.index for v in filtered.values] == [1]


def test_resolve_errors_carry_handle_codes(world):
    node, _a, _ = world
    res = node.resolver()
    detail = expect_error(
        lambda: res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/none")), grpc.StatusCode.NOT_FOUND, 100
    )
    assert "not found" in detail.message
    detail = expect_error(
        lambda: res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/")), grpc.StatusCode.INVALID_ARGUMENT, 102
    )
    assert "empty suffix" in detail.message
    expect_error(
        lambda: res.Resolve(
            resolver_pb2.ResolveRequest(handle="88.118.8/x"), metadata=auth("idn1.0000000000000000.bad")
        ),
        grpc.StatusCode.UNAUTHENTICATED,
        403,
    )


def test_batch_with_mixed_items_writes_only_the_valid_ones(world):
    node, a, _ = world
    reg, res = node.registry(), node.resolver()
    items = [
        registry_pb2.IdentifierWrite(handle="88.118.8/ok-1", values=[value(1, "URL", "https://a/1")]),
        registry_pb2.IdentifierWrite(handle="88.118.8/", values=[value(1, "URL", "https://a/2")]),
        registry_pb2.IdentifierWrite(handle="88.118.9/not-mine", values=[value(1, "URL", "https://a/3")]),
        registry_pb2.IdentifierWrite(handle="88.118.8/no-values"),
        registry_pb2.IdentifierWrite(handle="88.118.8/bad-index", values=[value(0, "URL", "https://a/4")]),
        registry_pb2.IdentifierWrite(handle="88.118.8/ok-2", values=[value(1, "URL", "https://a/5")]),
    ]
    results = reg.BatchCreate(registry_pb2.BatchCreateRequest(items=items), metadata=auth(a)).results
    assert [r.response_code for r in results] == [1, 102, 401, 202, 202, 1]
    assert next(r.handle for r in results) == "88.118.8/ok-1"
    assert all(r.message for r in results if r.response_code != 1)
    answers = res.BatchResolve(
        resolver_pb2.BatchResolveRequest(
            handles=["88.118.8/ok-1", "88.118.9/not-mine", "88.118.8/no-values", "88.118.8/bad-index", "88.118.8/ok-2"]
        )
    ).results
    assert [r.response_code for r in answers] == [1, 100, 100, 100, 1]
    repeat = reg.BatchCreate(registry_pb2.BatchCreateRequest(items=[items[0], items[5]]), metadata=auth(a)).results
    assert [(r.response_code, r.created) for r in repeat] == [(1, False), (1, False)]  # idempotent retry


def test_permission_matrix(world):
    node, a, b = world
    reg, res = node.registry(), node.resolver()
    item = registry_pb2.IdentifierWrite(
        handle="88.118.8/P", values=[value(1, "URL", "https://a/p"), value(2, "secret", "s", 0b1100)]
    )
    expect_error(lambda: reg.CreateIdentifier(item, metadata=auth(b)), grpc.StatusCode.PERMISSION_DENIED, 401)
    expect_error(lambda: reg.CreateIdentifier(item), grpc.StatusCode.UNAUTHENTICATED, 402)
    reg.CreateIdentifier(item, metadata=auth(a))
    for who in (None, b):
        md = auth(who) if who else None
        assert [v.type for v in res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/P"), metadata=md).values] == [
            "URL"
        ]
    deletion = registry_pb2.IdentifierDelete(handle="88.118.8/P")
    expect_error(lambda: reg.DeleteIdentifier(deletion, metadata=auth(b)), grpc.StatusCode.PERMISSION_DENIED, 401)
    admin = auth(node.admin_token)
    issued = reg.CreateToken(
        registry_pb2.CreateTokenRequest(role="enterprise", credit_code=credit_code(A_HEAD)), metadata=admin
    )
    assert reg.WhoAmI(registry_pb2.WhoAmIRequest(), metadata=auth(issued.token)).credit_code == credit_code(A_HEAD)
    assert reg.RevokeToken(registry_pb2.RevokeTokenRequest(token_id=issued.token_id), metadata=admin).revoked
    expect_error(
        lambda: reg.WhoAmI(registry_pb2.WhoAmIRequest(), metadata=auth(issued.token)),
        grpc.StatusCode.UNAUTHENTICATED,
        403,
    )
    auditor = reg.CreateToken(registry_pb2.CreateTokenRequest(role="auditor"), metadata=admin).token
    expect_error(lambda: reg.CreateIdentifier(item, metadata=auth(auditor)), grpc.StatusCode.PERMISSION_DENIED, 401)
    assert [
        v.type for v in res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/P"), metadata=auth(auditor)).values
    ] == ["URL", "secret"]


def test_pending_enterprise_cannot_register(node):
    token = setup_enterprise(node, A_HEAD, "88.118.8", approve=False)
    item = registry_pb2.IdentifierWrite(handle="88.118.8/X", values=[value(1, "URL", "https://a/x")])
    detail = expect_error(
        lambda: node.registry().CreateIdentifier(item, metadata=auth(token)), grpc.StatusCode.PERMISSION_DENIED, 401
    )
    assert "pending" in detail.message


def test_template_violations(world):
    node, a, _ = world
    reg = node.registry()
    reg.PutTemplate(
        registry_pb2.Template(
            prefix="88.118.8",
            version="1.0",
            items=[
                registry_pb2.TemplateItem(name="URL", id_type="url", required=True, metadata_type="url", index=1),
                registry_pb2.TemplateItem(
                    name="productName", required=True, metadata_type="string", min_length=3, max_length=10
                ),
            ],
        ),
        metadata=auth(a),
    )
    ok = registry_pb2.IdentifierWrite(
        handle="88.118.8/T",
        template_version="1.0",
        values=[value(1, "URL", "https://a/t"), value(2, "productName", "Pump")],
    )
    assert reg.CreateIdentifier(ok, metadata=auth(a)).created
    for values, fragment in (
        ([value(1, "URL", "https://a/t")], "required item 'productName'"),
        ([value(1, "URL", "not a url"), value(2, "productName", "Pump")], "URL"),
        ([value(1, "URL", "https://a/t"), value(2, "productName", "P")], "shorter than 3"),
        ([value(1, "URL", "https://a/t"), value(2, "productName", "Pump"), value(3, "colour", "red")], "colour"),
    ):
        bad = registry_pb2.IdentifierWrite(handle="88.118.8/T-bad", template_version="1.0", values=values)
        detail = expect_error(
            lambda bad=bad: reg.CreateIdentifier(bad, metadata=auth(a)), grpc.StatusCode.INVALID_ARGUMENT, 202
        )
        assert fragment in detail.message
    expect_error(
        lambda: node.resolver().Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/T-bad")),
        grpc.StatusCode.NOT_FOUND,
        100,
    )
    got = reg.GetTemplate(registry_pb2.GetTemplateRequest(prefix="88.118.8"), metadata=auth(a))
    assert got.version == "1.0" and [i.name for i in got.items] == ["URL", "productName"]


def test_conflicting_create_and_tombstones(world):
    node, a, _ = world
    reg, res = node.registry(), node.resolver()
    item = registry_pb2.IdentifierWrite(handle="88.118.8/D", values=[value(1, "URL", "https://a/d")])
    reg.CreateIdentifier(item, metadata=auth(a))
    other = registry_pb2.IdentifierWrite(handle="88.118.8/D", values=[value(1, "URL", "https://a/other")])
    expect_error(lambda: reg.CreateIdentifier(other, metadata=auth(a)), grpc.StatusCode.ALREADY_EXISTS, 101)
    reg.DeleteIdentifier(registry_pb2.IdentifierDelete(handle="88.118.8/D"), metadata=auth(a))
    deleted = expect_error(
        lambda: res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/D")), grpc.StatusCode.NOT_FOUND, 100
    )
    never = expect_error(
        lambda: res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/never")), grpc.StatusCode.NOT_FOUND, 100
    )
    assert "deleted" in deleted.message and "deleted" not in never.message
    batch = res.BatchResolve(resolver_pb2.BatchResolveRequest(handles=["88.118.8/D", "88.118.8/never"])).results
    assert "deleted" in batch[0].message and "not found" in batch[1].message


def test_update_modes_over_grpc(world):
    node, a, _ = world
    reg, res = node.registry(), node.resolver()
    reg.CreateIdentifier(
        registry_pb2.IdentifierWrite(handle="88.118.8/U", values=[value(1, "URL", "https://a/u")]), metadata=auth(a)
    )
    reg.UpdateIdentifier(
        registry_pb2.IdentifierUpdate(
            handle="88.118.8/U", mode=registry_pb2.UPDATE_MODE_ADD, values=[value(2, "EMAIL", "a@b.c")]
        ),
        metadata=auth(a),
    )
    expect_error(
        lambda: reg.UpdateIdentifier(
            registry_pb2.IdentifierUpdate(
                handle="88.118.8/U", mode=registry_pb2.UPDATE_MODE_MODIFY, values=[value(9, "X", "x")]
            ),
            metadata=auth(a),
        ),
        grpc.StatusCode.NOT_FOUND,
        200,
    )
    reg.UpdateIdentifier(
        registry_pb2.IdentifierUpdate(handle="88.118.8/U", mode=registry_pb2.UPDATE_MODE_REMOVE, remove_indexes=[1]),
        metadata=auth(a),
    )
    assert [v.type for v in res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/U")).values] == ["EMAIL"]


def test_streams_health_and_reflection(world):
    node, a, _ = world
    reg, res = node.registry(), node.resolver()
    reg.BatchCreate(
        registry_pb2.BatchCreateRequest(
            items=[
                registry_pb2.IdentifierWrite(handle=f"88.118.8/s{i}", values=[value(1, "URL", f"https://a/{i}")])
                for i in range(5)
            ]
        ),
        metadata=auth(a),
    )
    requests = [resolver_pb2.BatchResolveRequest(handles=[f"88.118.8/s{i}", "88.118.8/missing"]) for i in range(5)]
    replies = list(res.ResolveStream(iter(requests)))
    assert [[r.response_code for r in rep.results] for rep in replies] == [[1, 100]] * 5
    assert [rep.results[0].handle for rep in replies] == [f"88.118.8/s{i}" for i in range(5)]
    too_many = resolver_pb2.BatchResolveRequest(handles=["88.118.8/s0"] * 1001)
    expect_error(lambda: res.BatchResolve(too_many), grpc.StatusCode.INVALID_ARGUMENT, 202)
    health = health_pb2_grpc.HealthStub(node.channel())
    for service in ("", "idnode.v1.Resolver", "idnode.v1.Registry"):
        assert (
            health.Check(health_pb2.HealthCheckRequest(service=service)).status
            == health_pb2.HealthCheckResponse.SERVING
        )
    refl = reflection_pb2_grpc.ServerReflectionStub(node.channel())
    reply = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in reply.list_services_response.service}
    assert {"idnode.v1.Resolver", "idnode.v1.Registry", "grpc.health.v1.Health"} <= names


def test_restart_keeps_data_and_the_folder_is_locked(node_factory, tmp_path):
    node = node_factory()
    token = setup_enterprise(node, A_HEAD, "88.118.8")
    reg = node.registry()
    reg.BatchCreate(
        registry_pb2.BatchCreateRequest(
            items=[
                registry_pb2.IdentifierWrite(handle=f"88.118.8/r{i:03d}", values=[value(1, "URL", f"https://a/{i}")])
                for i in range(300)
            ]
        ),
        metadata=auth(token),
    )
    reg.DeleteIdentifier(registry_pb2.IdentifierDelete(handle="88.118.8/r007"), metadata=auth(token))
    before = reg.GetStats(registry_pb2.StatsRequest(), metadata=auth(node.admin_token))
    admin_token = node.admin_token

    from .conftest import Node

    second = Node(tmp_path / "data")
    with pytest.raises(AssertionError, match="in use by another idnode process"):
        second.start(timeout=30)

    assert node.stop() == 0
    again = node_factory()
    assert again.admin_token == admin_token  # not re-created
    res = again.resolver()
    assert res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/r299")).values[0].data == b"https://a/299"
    expect_error(
        lambda: res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/r007")), grpc.StatusCode.NOT_FOUND, 100
    )
    after = again.registry().GetStats(registry_pb2.StatsRequest(), metadata=auth(token))
    assert after.identifiers == before.identifiers == 299
    assert (
        again.registry().GetStats(registry_pb2.StatsRequest(), metadata=auth(admin_token)).changelog_sequence
        == before.changelog_sequence
    )
