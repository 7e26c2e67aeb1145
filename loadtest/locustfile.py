"""Locust users for an idnode node: gRPC resolver, DNS, HTTP Handle REST and enterprise registration.

Run (loadtest/README.md has the full set of commands)::

    idnode loadtest seed --count 100000 --keys keys.json
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 \\
        --grpc-target 127.0.0.1:50051 --dns-target 127.0.0.1:8053 --keys keys.json \\
        --headless -u 40 -r 20 -t 60s --csv out --html out.html

Users (select with their class names, or with ``--tags grpc|dns|http|register``):

- ``GrpcResolveUser``: Resolve (``--unknown-fraction`` of them for handles the
  node does not hold, which must answer NOT_FOUND with Handle code 100),
  BatchResolve (``--batch-size`` handles) and ResolveStream
  (``--stream-messages`` messages of ``--batch-size`` handles);
- ``DnsUser``: NAPTR queries over UDP for the handles' names;
- ``HttpHandleUser``: ``GET /api/handles/{handle}``;
- ``RegistrationUser``: the enterprise API with the key file's token:
  ``batchCreate`` of ``--reg-batch`` new identifiers under its own prefix,
  some updates and deletes of what it created.

Handles are drawn Zipf-like from the seeded keys (``--zipf``). Every reply
is checked (code, handle, counts); a wrong one counts as a failure.
"""

from __future__ import annotations

import collections
import itertools
import os
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import grpc
from grpc.experimental import gevent as grpc_gevent
from locust import FastHttpUser, User, tag, task

from idnode.client import error_from_rpc
from idnode.loadtest import datagen
from idnode.loadtest._locust_support import ReplyError, context, host_port, paced_wait, report
from idnode.proto import resolver_pb2, resolver_pb2_grpc
from idnode.registry.values import permissions_to_str
from idnode.resolver.dns.names import handle_to_name

# grpcio's own threads must yield to gevent's loop; before any channel exists (grpcio's gevent mode).
grpc_gevent.init_gevent()

_NOT_FOUND = 100
_user_numbers = itertools.count(1)
_RUN = os.urandom(4).hex()  # keeps registration handles of separate Locust processes apart


def _check_result(result: Any, handle: str) -> None:
    if result.response_code != 1:
        raise ReplyError(f"{handle}: response code {result.response_code} {result.message}")
    if result.handle.lower() != handle.lower():
        raise ReplyError(f"asked {handle}, answered {result.handle}")


def _check_batch(results: Any, handles: list[str]) -> None:
    if len(results) != len(handles):
        raise ReplyError(f"{len(handles)} handles asked, {len(results)} results")
    for result, handle in zip(results, handles, strict=True):
        _check_result(result, handle)


class GrpcResolveUser(User):
    """A factory system resolving over gRPC: single resolves (some unknown), batches and streams."""

    wait_time = paced_wait

    def on_start(self) -> None:
        self.ctx = context(self.environment)
        options = self.ctx.options
        host_port(options.grpc_target, "--grpc-target")
        # A channel (one TCP connection) per user: SO_REUSEPORT balances per connection.
        self.channel = grpc.insecure_channel(options.grpc_target, options=[("grpc.use_local_subchannel_pool", 1)])
        self.stub = resolver_pb2_grpc.ResolverStub(self.channel)
        self.timeout = options.request_timeout

    def on_stop(self) -> None:
        self.channel.close()

    def _call(self, name: str, work: Callable[[], int]) -> None:
        """Time ``work`` (one call and its checks, returning the reply's size) and report it as ``name``."""
        started = time.perf_counter()
        try:
            length = work()
        except grpc.RpcError as err:
            report(self.environment, "grpc", name, started, 0, error_from_rpc(err))
        except ReplyError as exc:
            report(self.environment, "grpc", name, started, 0, exc)
        else:
            report(self.environment, "grpc", name, started, length)

    def _resolve_unknown(self, handle: str) -> int:
        try:
            response = self.stub.Resolve(resolver_pb2.ResolveRequest(handle=handle), timeout=self.timeout)
        except grpc.RpcError as err:
            error = error_from_rpc(err)
            if error.status == "NOT_FOUND" and error.code == _NOT_FOUND:
                return 0
            raise ReplyError(f"{handle}: expected NOT_FOUND with code 100, got {error.status} {error}") from None
        raise ReplyError(f"{handle}: an unknown handle answered code {response.response_code}")

    def _resolve(self, handle: str) -> int:
        response = self.stub.Resolve(resolver_pb2.ResolveRequest(handle=handle), timeout=self.timeout)
        _check_result(response, handle)
        return response.ByteSize()

    def _batch(self, handles: list[str]) -> int:
        response = self.stub.BatchResolve(resolver_pb2.BatchResolveRequest(handles=handles), timeout=self.timeout)
        _check_batch(response.results, handles)
        return response.ByteSize()

    def _stream(self, batches: list[list[str]]) -> int:
        requests = [resolver_pb2.BatchResolveRequest(handles=handles) for handles in batches]
        length = answers = 0
        for response, handles in zip(
            self.stub.ResolveStream(iter(requests), timeout=self.timeout), batches, strict=False
        ):
            _check_batch(response.results, handles)
            length += response.ByteSize()
            answers += 1
        if answers != len(batches):
            raise ReplyError(f"{len(batches)} messages sent, {answers} answered")
        return length

    @tag("grpc", "resolve")
    @task(10)
    def resolve(self) -> None:
        if self.ctx.rng.random() < self.ctx.options.unknown_fraction:
            handle = self.ctx.unknown_handle()
            self._call("Resolve (unknown)", lambda: self._resolve_unknown(handle))
        else:
            handle = self.ctx.picker.choose()
            self._call("Resolve", lambda: self._resolve(handle))

    @tag("grpc", "batch")
    @task(1)
    def batch_resolve(self) -> None:
        handles = self.ctx.picker.sample(self.ctx.options.batch_size)
        self._call("BatchResolve", lambda: self._batch(handles))

    @tag("grpc", "stream")
    @task(1)
    def resolve_stream(self) -> None:
        options = self.ctx.options
        batches = [self.ctx.picker.sample(options.batch_size) for _ in range(options.stream_messages)]
        self._call("ResolveStream", lambda: self._stream(batches))


class DnsUser(User):
    """A resolver asking the node's DNS front end for handles' NAPTR records over UDP."""

    wait_time = paced_wait

    def on_start(self) -> None:
        self.ctx = context(self.environment)
        options = self.ctx.options
        self.server, self.port = host_port(options.dns_target, "--dns-target")
        family = socket.AF_INET6 if ":" in self.server else socket.AF_INET
        # A socket per user: SO_REUSEPORT spreads UDP by source address and port over the workers.
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.zone = options.dns_zone
        self.timeout = options.request_timeout

    def on_stop(self) -> None:
        self.sock.close()

    @tag("dns")
    @task
    def naptr(self) -> None:
        handle = self.ctx.picker.choose()
        query = dns.message.make_query(handle_to_name(handle, self.zone), dns.rdatatype.NAPTR)
        started = time.perf_counter()
        try:
            answer = dns.query.udp(
                query, self.server, timeout=self.timeout, port=self.port, sock=self.sock, ignore_unexpected=True
            )
            if answer.rcode() != dns.rcode.NOERROR:
                raise ReplyError(f"{handle}: rcode {dns.rcode.to_text(answer.rcode())}")
            if not answer.flags & dns.flags.AA or not any(
                rrset.rdtype == dns.rdatatype.NAPTR for rrset in answer.answer
            ):
                raise ReplyError(f"{handle}: no authoritative NAPTR answer")
        except (ReplyError, dns.exception.DNSException, OSError) as exc:
            report(self.environment, "dns", "NAPTR", started, 0, exc)
        else:
            report(self.environment, "dns", "NAPTR", started, len(answer.to_wire()))


class HttpHandleUser(FastHttpUser):
    """A browser or Handle client reading records over the Handle REST API (``--host`` is the HTTP base URL)."""

    wait_time = paced_wait

    def on_start(self) -> None:
        self.ctx = context(self.environment)

    @tag("http")
    @task
    def get_handle(self) -> None:
        handle = self.ctx.picker.choose()
        with self.client.get(
            f"/api/handles/{quote(handle, safe='/')}", name="/api/handles/[handle]", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{handle}: HTTP {response.status_code}")
                return
            try:
                doc = response.json()
            except ValueError:
                response.failure(f"{handle}: HTTP 200 without a JSON body")
                return
            if doc.get("responseCode") != 1 or str(doc.get("handle", "")).lower() != handle.lower():
                response.failure(f"{handle}: responseCode {doc.get('responseCode')} handle {doc.get('handle')}")


class RegistrationUser(FastHttpUser):
    """An enterprise's system registering products over the enterprise API: batch creates under its own
    prefix, some updates and deletes of what it created."""

    wait_time = paced_wait

    def on_start(self) -> None:
        self.ctx = context(self.environment)
        registration = self.ctx.registration
        self.prefix = registration.prefix
        self.headers = {"Authorization": f"Bearer {registration.token}"}
        self.number = next(_user_numbers)
        self.serial = itertools.count()
        self.created: collections.deque[str] = collections.deque(maxlen=10_000)

    def _item(self) -> dict[str, Any]:
        n = next(self.serial)
        write = datagen.item(n, self.prefix)
        values = [
            {"index": v.index, "type": v.type, "data": v.text, "auth": permissions_to_str(v.permissions, 4)}
            for v in write.values
        ]
        handle = f"{self.prefix}/LT-{_RUN}-{self.number}-{n:08d}"
        return {"handle": handle, "templateVersion": write.template_version, "value": values}

    def _expect(self, response: Any, what: str, count: int = 0) -> bool:
        """Mark ``response`` failed unless it is HTTP 200, status 1 and (batches) ``count`` items with code 1."""
        try:
            doc = response.json()
        except ValueError:
            response.failure(f"{what}: HTTP {response.status_code}, not JSON")
            return False
        if response.status_code != 200 or doc.get("status") != 1:
            response.failure(f"{what}: HTTP {response.status_code} status {doc.get('status')} {doc.get('message')}")
            return False
        if count:
            data = doc.get("data") or []
            bad = [item for item in data if item.get("code") != 1]
            if len(data) != count or bad:
                response.failure(f"{what}: {len(data)} of {count} results, first refused: {bad[:1]}")
                return False
        return True

    @tag("register")
    @task(6)
    def batch_create(self) -> None:
        items = [self._item() for _ in range(self.ctx.options.reg_batch)]
        with self.client.post(
            "/identityv2/data/batchCreate", json=items, headers=self.headers, catch_response=True
        ) as response:
            if self._expect(response, "batchCreate", len(items)):
                self.created.extend(item["handle"] for item in items)

    @tag("register")
    @task(3)
    def update(self) -> None:
        if not self.created:
            self.batch_create()
            return
        handle = self.created[self.ctx.rng.randrange(len(self.created))]
        body = {"handle": handle, "mode": "modify", "value": [{"index": 3, "type": "model", "data": f"M-{_RUN}"}]}
        with self.client.put("/identityv2/data", json=body, headers=self.headers, catch_response=True) as response:
            self._expect(response, f"update {handle}")

    @tag("register")
    @task(1)
    def delete(self) -> None:
        if not self.created:
            self.batch_create()
            return
        handle = self.created.popleft()
        with self.client.request(
            "DELETE", "/identityv2/data", json={"handle": handle}, headers=self.headers, catch_response=True
        ) as response:
            self._expect(response, f"delete {handle}")
