"""The prefork node: supervisor, writer process, reader workers on one port."""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
import pytest

from idnode.proto import common_pb2, registry_pb2, resolver_pb2, resolver_pb2_grpc

from .conftest import auth, children_of, setup_enterprise, wait_folder_free


def _value(i: int) -> common_pb2.HandleValue:
    return common_pb2.HandleValue(index=1, type="URL", data=f"https://p/{i}".encode())


def test_prefork_forwards_writes_and_serves_reads_from_every_worker(node_factory):
    node = node_factory("--workers", "3")
    assert "3 workers" in "".join(node.output)
    assert node.proc is not None
    assert len(children_of(node.proc.pid)) == 4  # the writer and three workers
    token = setup_enterprise(node, "91440300192203821", "88.118.8")
    # Many channels: SO_REUSEPORT balances connections over the workers.
    stubs = [(node.registry(), node.resolver()) for _ in range(8)]
    for i, (reg, _) in enumerate(stubs):
        result = reg.CreateIdentifier(
            registry_pb2.IdentifierWrite(handle=f"88.118.8/W{i}", values=[_value(i)]), metadata=auth(token)
        )
        assert result.response_code == 1 and result.created
    for _, res in stubs:  # every write is visible through every connection at once
        answers = res.BatchResolve(resolver_pb2.BatchResolveRequest(handles=[f"88.118.8/W{i}" for i in range(8)]))
        assert [r.response_code for r in answers.results] == [1] * 8
    # Errors forwarded from the writer keep their status and Handle details.
    with pytest.raises(grpc.RpcError) as info:
        stubs[0][0].CreateIdentifier(
            registry_pb2.IdentifierWrite(handle="88.118.8/W0", values=[_value(99)]), metadata=auth(token)
        )
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    from grpc_status import rpc_status

    detail = common_pb2.HandleError()
    assert rpc_status.from_call(info.value).details[0].Unpack(detail) and detail.response_code == 101
    exported = list(stubs[1][0].ExportIdentifiers(registry_pb2.ExportRequest(prefix="88.118.8"), metadata=auth(token)))
    assert [r.handle for r in exported] == [f"88.118.8/W{i}" for i in range(8)]


def test_a_dead_worker_is_replaced(node_factory):
    node = node_factory("--workers", "2")
    assert node.proc is not None
    before = children_of(node.proc.pid)
    assert len(before) == 3
    victim = before[-1]  # the last forked: a worker
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = children_of(node.proc.pid)
        if len(now) == 3 and victim not in now:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"worker {victim} was not replaced: {children_of(node.proc.pid)}")
    res = node.resolver()
    with pytest.raises(grpc.RpcError) as info:
        res.Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/none"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    node.stop()
    assert any("restarting the worker" in line for line in node.output)


def test_sigterm_stops_every_process(node_factory):
    node = node_factory("--workers", "2")
    assert node.proc is not None
    kids = children_of(node.proc.pid)
    assert node.stop() == 0
    alive = [pid for pid in kids if os.path.exists(f"/proc/{pid}")]
    assert alive == [], f"children left running after SIGTERM: {alive}"
    wait_folder_free(node.data_dir, timeout=1)
    assert any("stopping" in line for line in node.output)


def test_single_process_mode(node_factory):
    node = node_factory("--workers", "1")
    assert "one process" in "".join(node.output)
    assert node.proc is not None and children_of(node.proc.pid) == []
    token = setup_enterprise(node, "91440300192203821", "88.118.8")
    node.registry().CreateIdentifier(
        registry_pb2.IdentifierWrite(handle="88.118.8/S", values=[_value(1)]), metadata=auth(token)
    )
    assert node.resolver().Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/S")).values[0].data == b"https://p/1"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_in_flight_calls(node_factory, workers):
    """A stream open when SIGTERM arrives keeps being answered within the grace
    period; new calls are refused; the node then exits 0."""
    node = node_factory("--workers", workers, "--grace", "5", "--demo")
    res = node.resolver()
    ready = threading.Event()

    def feed():
        yield resolver_pb2.BatchResolveRequest(handles=["88.118.8/DEMO-000001"])
        ready.wait(10)
        yield resolver_pb2.BatchResolveRequest(handles=["88.118.8/DEMO-000002"])

    stream = res.ResolveStream(feed())
    first = next(stream)
    assert first.results[0].response_code == 1
    assert node.proc is not None
    started = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)  # the node is draining now
    with grpc.insecure_channel(node.target) as fresh, pytest.raises(grpc.RpcError):  # new calls are refused
        resolver_pb2_grpc.ResolverStub(fresh).Resolve(
            resolver_pb2.ResolveRequest(handle="88.118.8/DEMO-000003"), timeout=2
        )
    ready.set()
    second = next(stream)
    assert second.results[0].handle == "88.118.8/DEMO-000002" and second.results[0].response_code == 1
    with pytest.raises(StopIteration):
        next(stream)
    assert node.proc.wait(30) == 0
    assert time.monotonic() - started < 5 + 10


def test_json_logs(node_factory):
    node = node_factory("--workers", "2", "--log-format", "json", "--log-level", "info")
    node.stop()
    import json

    entries = [json.loads(line) for line in node.output if line.startswith("{")]
    assert any(e["logger"] == "idnode.prefork" and "started" in e["message"] for e in entries)
    assert all({"time", "level", "logger", "pid", "message"} <= set(e) for e in entries)
