"""The TopLevel service logic, sans transport: protobuf requests in, protobuf replies out, typed errors.

:class:`TopLevel` takes the caller's bearer credential (or None) and a
request message; ``server.py`` moves the bytes and maps :class:`TopNodeError`
to gRPC statuses. The rules (state machine, sequence handling, response
codes) are documented in ``proto/toplevel.proto`` and sync/README.md.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import lmdb

from idnode.proto import common_pb2, registry_pb2, toplevel_pb2
from idnode.registry import changelog
from idnode.sync.topnode.store import TopStore, dr_key

PENDING = registry_pb2.PREFIX_STATUS_PENDING
APPROVED = registry_pb2.PREFIX_STATUS_APPROVED
REJECTED = registry_pb2.PREFIX_STATUS_REJECTED
STATUS_NAMES = {PENDING: "pending", APPROVED: "approved", REJECTED: "rejected"}
STATUS_BY_NAME = {name: number for number, name in STATUS_NAMES.items()}
PROTOCOL_NAMES = {
    toplevel_pb2.SITE_PROTOCOL_GRPC: "grpc",
    toplevel_pb2.SITE_PROTOCOL_HTTP: "http",
    toplevel_pb2.SITE_PROTOCOL_DNS: "dns",
}
PROTOCOL_BY_NAME = {name: number for number, name in PROTOCOL_NAMES.items()}
log = logging.getLogger(__name__)

MAX_BATCH = 2000
MAX_PREFIX = 64
HS_SITE_INDEX = 1  # first HS_SITE value's index; mirrors follow


class TopNodeError(Exception):
    """A failed call; ``status`` names the gRPC status code."""

    status = "UNKNOWN"


class Unauthenticated(TopNodeError):
    status = "UNAUTHENTICATED"


class PermissionDenied(TopNodeError):
    status = "PERMISSION_DENIED"


class InvalidArgument(TopNodeError):
    status = "INVALID_ARGUMENT"


class NotFound(TopNodeError):
    status = "NOT_FOUND"


class FailedPrecondition(TopNodeError):
    status = "FAILED_PRECONDITION"


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def normalise_prefix(text: str) -> str:
    """``88.118.8`` or ``0.NA/88.118.8`` -> ``88.118.8`` (lower case).

    Raises:
        InvalidArgument: empty, too long, a ``/`` or an empty segment.
    """
    prefix = text.strip()
    if prefix.upper().startswith("0.NA/"):
        prefix = prefix[5:]
    prefix = prefix.lower()
    if not prefix or len(prefix) > MAX_PREFIX or "/" in prefix or any(not s for s in prefix.split(".")):
        raise InvalidArgument(f"invalid prefix {text!r}")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in prefix):
        raise InvalidArgument(f"invalid prefix {text!r}")
    return prefix


def _under(prefix: str, parent: str) -> bool:
    return prefix == parent or prefix.startswith(parent + ".")


def _site_dict(site: toplevel_pb2.Site) -> dict[str, Any]:
    if site.protocol not in PROTOCOL_NAMES:
        raise InvalidArgument("a site needs a protocol: grpc, http or dns")
    if not site.host or not 0 < site.port < 65536:
        raise InvalidArgument(f"site {site.host!r}:{site.port}: needs a host and a port 1..65535")
    site_dict = {"protocol": PROTOCOL_NAMES[site.protocol], "host": site.host, "port": site.port, "mirror": site.mirror}
    if site.tls:  # only when set: sites stored before the field existed read the same
        site_dict["tls"] = True
    return site_dict


def _site_msg(site: dict[str, Any]) -> toplevel_pb2.Site:
    return toplevel_pb2.Site(
        protocol=PROTOCOL_BY_NAME[site["protocol"]],
        host=site["host"],
        port=site["port"],
        mirror=site["mirror"],
        tls=site.get("tls", False),
    )


def hs_site_values(sites: list[dict[str, Any]], timestamp: int) -> list[common_pb2.HandleValue]:
    """HS_SITE values of ``sites``: one for the primary site, one for the mirrors ([choice] JSON data;
    a server served over TLS carries ``"tls":true``)."""
    values = []
    for mirror in (False, True):
        servers = [
            {"protocol": s["protocol"], "host": s["host"], "port": s["port"], **({"tls": True} if s.get("tls") else {})}
            for s in sites
            if s["mirror"] is mirror
        ]
        if servers:
            data = json.dumps({"version": 1, "primary": not mirror, "servers": servers}, separators=(",", ":"))
            values.append(
                common_pb2.HandleValue(
                    index=HS_SITE_INDEX + len(values),
                    type="HS_SITE",
                    format=common_pb2.DATA_FORMAT_STRING,
                    data=data.encode(),
                    ttl=86400,
                    timestamp=timestamp,
                )
            )
    return values


F = TypeVar("F", bound=Callable[..., Any])


def _grows(method: F) -> F:
    """Run a write again in a doubled map when LMDB reports it full (the aborted transaction left nothing)."""

    @functools.wraps(method)
    def wrapper(self: TopLevel, *args: Any) -> Any:
        while True:
            try:
                return method(self, *args)
            except lmdb.MapFullError:
                self.store.grow()

    return wrapper  # type: ignore[return-value]


def _check_link(change: toplevel_pb2.Change, prev: bytes | None) -> bytes | None:
    """Check a pushed change continues the node's hash chain; the digest the next change must carry.

    A change with its raw change-log entry (every idnode since the outbox
    sent ``entry``) must decode, describe the same write as the change's own
    fields, and carry the digest of the entry stored before it (genesis for
    sequence 1). A change without ``entry`` (an older node) is stored
    unchecked and the next one's link is not checked either (None).

    Raises:
        InvalidArgument: the entry does not decode or differs from the change.
        FailedPrecondition: a chain break: the node's log does not continue
            the copy held here (a rewritten or forked history).
    """
    if not change.entry:
        return None
    try:
        entry = changelog.decode_entry(change.sequence, change.entry)
    except changelog.ChangeLogError as exc:
        raise InvalidArgument(f"change {change.sequence}: {exc}") from None
    if (entry.key, entry.payload, entry.db, entry.time) != (change.key, change.record, change.db, change.time):
        raise InvalidArgument(f"change {change.sequence}: key, record, db or time differ from its entry")
    if prev is not None and entry.prev_digest != prev:
        log.warning(
            "node change-log chain break at sequence %d: previous-entry digest %s, the copy's is %s",
            change.sequence,
            entry.prev_digest.hex(),
            prev.hex(),
        )
        raise FailedPrecondition(
            f"change-log chain break at sequence {change.sequence}: its previous-entry digest "
            f"{entry.prev_digest.hex()} is not the digest {prev.hex()} of the entry stored before it"
        )
    return changelog.digest(change.entry)


def audit_copy(store: TopStore, node_prefix: str) -> changelog.ChainWalk:
    """Walk the DR copy of ``node_prefix`` from genesis (``idnode topnode audit``); changes without entry break it."""
    with store.read() as txn:
        ack = store.ack(txn, node_prefix)
    entries = (
        (sequence, toplevel_pb2.Change.FromString(raw).entry) for sequence, raw in store.changes(node_prefix, 0, ack)
    )
    return changelog.walk_chain(entries, (0, changelog.GENESIS))


class TopLevel:
    """The top-level node's logic over a :class:`TopStore`.

    Args:
        store: the open data folder.
        admin_credential: the operator's bearer credential.
        clock: seconds since 1970 (tests pass a fake).
    """

    def __init__(self, store: TopStore, admin_credential: str, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._admin = digest(admin_credential)
        self.clock = clock

    def _now(self) -> int:
        return int(self.clock())

    # -- authorisation -------------------------------------------------------------

    def _is_admin(self, credential: str | None) -> bool:
        return credential is not None and hmac.compare_digest(digest(credential), self._admin)

    def _admin_only(self, credential: str | None) -> None:
        if credential is None:
            raise Unauthenticated("a bearer credential is needed")
        if not self._is_admin(credential):
            raise PermissionDenied("only the top node's admin credential may do this")

    def _node(self, txn: Any, credential: str | None, node_prefix: str) -> dict[str, Any]:
        """The registered node ``node_prefix`` if ``credential`` may act for it."""
        if credential is None:
            raise Unauthenticated("a bearer credential is needed")
        node = self.store.get_json(txn, "nodes", node_prefix)
        if node is None:
            if self._is_admin(credential):
                raise NotFound(f"node {node_prefix} is not registered")
            raise FailedPrecondition(f"node {node_prefix} is not registered; call RegisterNode first")
        if not (self._is_admin(credential) or hmac.compare_digest(digest(credential), node["credential"])):
            raise PermissionDenied(f"the credential is not the one node {node_prefix} registered with")
        return node

    def _touch(self, txn: Any, node: dict[str, Any], **fields: Any) -> None:
        node.update(fields, last_seen=self._now())
        self.store.put_json(txn, "nodes", node["node_prefix"], node)

    # -- node calls ------------------------------------------------------------------

    @_grows
    def register_node(self, credential: str | None, request: toplevel_pb2.RegisterNodeRequest) -> toplevel_pb2.NodeInfo:
        node_prefix = normalise_prefix(request.node_prefix)
        sites = [_site_dict(s) for s in request.sites]
        if credential is None:
            raise Unauthenticated("a bearer credential is needed: the node's own credential")
        with self.store.write() as txn:
            node = self.store.get_json(txn, "nodes", node_prefix)
            if node is None:
                if self._is_admin(credential):
                    raise InvalidArgument("register a node with the node's own credential, not the admin's")
                node = {"node_prefix": node_prefix, "registered": self._now(), "last_sequence": 0}
                node["credential"] = digest(credential)
            else:
                node = self._node(txn, credential, node_prefix)
            self._touch(txn, node, node_id=request.node_id, sites=sites, version=request.version)
            return self._node_info(txn, node)

    @_grows
    def request_prefix(
        self, credential: str | None, request: toplevel_pb2.RequestPrefixRequest
    ) -> toplevel_pb2.PrefixApproval:
        node_prefix = normalise_prefix(request.node_prefix)
        prefix = normalise_prefix(request.prefix)
        if not prefix.startswith(node_prefix + "."):
            raise InvalidArgument(f"prefix {prefix} does not lie under node prefix {node_prefix}")
        sites = [_site_dict(s) for s in request.sites]
        with self.store.write() as txn:
            node = self._node(txn, credential, node_prefix)
            self._touch(txn, node)
            entry = self.store.get_json(txn, "prefixes", prefix)
            if entry is not None and entry["node_prefix"] != node_prefix:
                raise PermissionDenied(f"prefix {prefix} was requested by node {entry['node_prefix']}")
            if entry is None or entry["status"] == "rejected":
                entry = {
                    "prefix": prefix,
                    "node_prefix": node_prefix,
                    "credit_code": request.credit_code,
                    "status": "pending",
                    "requested": self._now(),
                    "decided": 0,
                    "reason": "",
                }
                self.store.put_json(txn, "prefixes", prefix, entry)
            if sites:
                self.store.put_json(txn, "sites", prefix, sites)
            return self._approval(txn, entry)

    def get_prefix_status(
        self, credential: str | None, request: toplevel_pb2.GetPrefixStatusRequest
    ) -> toplevel_pb2.PrefixApproval:
        node_prefix = normalise_prefix(request.node_prefix)
        prefix = normalise_prefix(request.prefix)
        with self.store.read() as txn:
            self._node(txn, credential, node_prefix)
            entry = self.store.get_json(txn, "prefixes", prefix)
            if entry is None or entry["node_prefix"] != node_prefix:
                raise NotFound(f"prefix {prefix} was never requested by node {node_prefix}")
            return self._approval(txn, entry)

    @_grows
    def push_changes(self, credential: str | None, request: toplevel_pb2.PushChangesRequest) -> toplevel_pb2.PushAck:
        """Store changes by sequence: duplicates ignored, the next one applied, anything after a gap rejected."""
        node_prefix = normalise_prefix(request.node_prefix)
        if len(request.changes) > MAX_BATCH:
            raise InvalidArgument(f"at most {MAX_BATCH} changes per call")
        if any(c.sequence == 0 for c in request.changes):
            raise InvalidArgument("change sequences start at 1")
        applied = duplicates = rejected = 0
        with self.store.write() as txn:
            node = self._node(txn, credential, node_prefix)
            ack = self.store.ack(txn, node_prefix)
            prev = self._chain_digest(txn, node_prefix, ack)
            for change in sorted(request.changes, key=lambda c: c.sequence):
                if change.sequence <= ack:
                    duplicates += 1
                elif change.sequence == ack + 1:
                    prev = _check_link(change, prev)  # raises: the whole call stores nothing
                    self.store.put_change(txn, node_prefix, change.sequence, change.SerializeToString())
                    ack += 1
                    applied += 1
                else:
                    rejected += 1
            if applied:
                self.store.set_ack(txn, node_prefix, ack)
            self._touch(txn, node)
        return toplevel_pb2.PushAck(highest_contiguous=ack, applied=applied, duplicates=duplicates, rejected=rejected)

    def _chain_digest(self, txn: Any, node_prefix: str, ack: int) -> bytes | None:
        """Digest of the stored entry ``ack`` (the next change's previous digest); None when it carried no entry."""
        if ack == 0:
            return changelog.GENESIS
        raw = txn.get(dr_key(node_prefix, ack), db=self.store.dbs["dr"])
        entry = toplevel_pb2.Change.FromString(raw).entry if raw is not None else b""
        return changelog.digest(entry) if entry else None

    @_grows
    def report_stats(self, credential: str | None, request: toplevel_pb2.StatsReport) -> toplevel_pb2.StatsReportAck:
        node_prefix = normalise_prefix(request.node_prefix)
        try:
            day = datetime.date.fromisoformat(request.day).isoformat()
        except ValueError:
            raise InvalidArgument(f"day {request.day!r} is not YYYY-MM-DD") from None
        rows = {normalise_prefix(r.prefix): [r.registrations, r.resolutions, r.errors] for r in request.rows}
        key = f"{node_prefix}\x00{day}"
        with self.store.write() as txn:
            node = self._node(txn, credential, node_prefix)
            report = self.store.get_json(txn, "stats", key) or {"rows": {}}
            report["rows"].update(rows)
            report["connected_enterprises"] = request.connected_enterprises
            report["received"] = self._now()
            self.store.put_json(txn, "stats", key, report)
            self._touch(txn, node)
        return toplevel_pb2.StatsReportAck(rows=len(rows))

    @_grows
    def heartbeat(
        self, credential: str | None, request: toplevel_pb2.HeartbeatRequest
    ) -> toplevel_pb2.HeartbeatResponse:
        node_prefix = normalise_prefix(request.node_prefix)
        with self.store.write() as txn:
            node = self._node(txn, credential, node_prefix)
            self._touch(txn, node, last_sequence=request.last_sequence)
            ack = self.store.ack(txn, node_prefix)
        return toplevel_pb2.HeartbeatResponse(time=self._now(), highest_contiguous=ack)

    def fetch_changes(
        self, credential: str | None, request: toplevel_pb2.FetchChangesRequest
    ) -> Iterator[toplevel_pb2.Change]:
        """The DR copy after ``after_sequence``, in order (checks the credential before the first message)."""
        node_prefix = normalise_prefix(request.node_prefix)
        with self.store.read() as txn:
            self._node(txn, credential, node_prefix)
            ack = self.store.ack(txn, node_prefix)
        upto = ack if not request.limit else min(ack, request.after_sequence + request.limit)
        return (
            toplevel_pb2.Change.FromString(raw)
            for _, raw in self.store.changes(node_prefix, request.after_sequence, upto)
        )

    # -- public --------------------------------------------------------------------------

    def resolve_prefix(self, request: toplevel_pb2.ResolvePrefixRequest) -> toplevel_pb2.ResolvePrefixResponse:
        try:
            prefix = normalise_prefix(request.prefix)
        except InvalidArgument as exc:
            return toplevel_pb2.ResolvePrefixResponse(response_code=102, handle=request.prefix, message=str(exc))
        reply = toplevel_pb2.ResolvePrefixResponse(handle=f"0.NA/{prefix}")
        with self.store.read() as txn:
            entry = self.store.get_json(txn, "prefixes", prefix)
            if entry is not None:
                reply.status = STATUS_BY_NAME[entry["status"]]
            node = self.store.get_json(txn, "nodes", prefix)
            if node is not None:
                code, sites = 1, node["sites"]
            elif entry is not None and entry["status"] == "approved":
                owner = self.store.get_json(txn, "nodes", entry["node_prefix"]) or {"sites": []}
                node = owner
                code, sites = 1, self.store.get_json(txn, "sites", prefix) or owner["sites"]
            else:
                covering = [
                    (len(name), value) for name, value in self.store.all_json(txn, "nodes") if _under(prefix, name)
                ]
                if not covering:
                    reply.response_code = 100
                    reply.message = f"no registered node serves prefix {prefix}"
                    return reply
                node = max(covering, key=lambda item: item[0])[1]
                code, sites = 303, node["sites"]
                reply.message = f"prefix {prefix} is not approved here; ask node {node['node_prefix']}"
        reply.response_code = code
        reply.node_prefix = node.get("node_prefix", "")
        reply.sites.extend(_site_msg(s) for s in sites)
        reply.values.extend(hs_site_values(sites, self._now()))
        return reply

    # -- admin calls -------------------------------------------------------------------

    @_grows
    def _decide(self, credential: str | None, request: toplevel_pb2.PrefixDecision, status: str) -> Any:
        self._admin_only(credential)
        prefix = normalise_prefix(request.prefix)
        with self.store.write() as txn:
            entry = self.store.get_json(txn, "prefixes", prefix)
            if entry is None:
                raise NotFound(f"prefix {prefix} was never requested")
            if entry["status"] != status:
                entry.update(status=status, decided=self._now(), reason=request.reason)
                self.store.put_json(txn, "prefixes", prefix, entry)
            return self._approval(txn, entry)

    def approve_prefix(
        self, credential: str | None, request: toplevel_pb2.PrefixDecision
    ) -> toplevel_pb2.PrefixApproval:
        return self._decide(credential, request, "approved")

    def reject_prefix(
        self, credential: str | None, request: toplevel_pb2.PrefixDecision
    ) -> toplevel_pb2.PrefixApproval:
        return self._decide(credential, request, "rejected")

    def list_nodes(
        self, credential: str | None, request: toplevel_pb2.ListNodesRequest
    ) -> toplevel_pb2.ListNodesResponse:
        self._admin_only(credential)
        with self.store.read() as txn:
            nodes = [self._node_info(txn, node) for _, node in self.store.all_json(txn, "nodes")]
        return toplevel_pb2.ListNodesResponse(nodes=nodes)

    def list_prefixes(
        self, credential: str | None, request: toplevel_pb2.ListPrefixApprovalsRequest
    ) -> toplevel_pb2.ListPrefixApprovalsResponse:
        self._admin_only(credential)
        wanted = STATUS_NAMES.get(request.status)
        node_prefix = normalise_prefix(request.node_prefix) if request.node_prefix else ""
        with self.store.read() as txn:
            rows = [
                self._approval(txn, entry)
                for _, entry in self.store.all_json(txn, "prefixes")
                if (not wanted or entry["status"] == wanted)
                and (not node_prefix or entry["node_prefix"] == node_prefix)
            ]
        return toplevel_pb2.ListPrefixApprovalsResponse(prefixes=rows)

    def get_stats(self, credential: str | None, request: toplevel_pb2.StatsQuery) -> toplevel_pb2.StatsReports:
        self._admin_only(credential)
        node_prefix = normalise_prefix(request.node_prefix) if request.node_prefix else ""
        reports = []
        with self.store.read() as txn:
            for key, report in self.store.all_json(txn, "stats"):
                node, day = key.split("\x00")
                if (node_prefix and node != node_prefix) or (request.day and day != request.day):
                    continue
                reports.append(
                    toplevel_pb2.StatsReport(
                        node_prefix=node,
                        day=day,
                        connected_enterprises=report["connected_enterprises"],
                        received=report["received"],
                        rows=[
                            toplevel_pb2.PrefixDayStats(prefix=p, registrations=r[0], resolutions=r[1], errors=r[2])
                            for p, r in sorted(report["rows"].items())
                        ],
                    )
                )
        return toplevel_pb2.StatsReports(reports=reports)

    # -- replies -----------------------------------------------------------------------

    def _node_info(self, txn: Any, node: dict[str, Any]) -> toplevel_pb2.NodeInfo:
        name = node["node_prefix"]
        approved = sum(
            1 for _, p in self.store.all_json(txn, "prefixes") if p["node_prefix"] == name and p["status"] == "approved"
        )
        return toplevel_pb2.NodeInfo(
            node_prefix=name,
            node_id=node.get("node_id", ""),
            sites=[_site_msg(s) for s in node.get("sites", [])],
            registered=node["registered"],
            last_seen=node.get("last_seen", 0),
            last_sequence=node.get("last_sequence", 0),
            highest_contiguous=self.store.ack(txn, name),
            prefixes=approved,
            version=node.get("version", ""),
        )

    def _approval(self, txn: Any, entry: dict[str, Any]) -> toplevel_pb2.PrefixApproval:
        sites = self.store.get_json(txn, "sites", entry["prefix"]) or []
        return toplevel_pb2.PrefixApproval(
            prefix=entry["prefix"],
            node_prefix=entry["node_prefix"],
            credit_code=entry["credit_code"],
            status=STATUS_BY_NAME[entry["status"]],
            requested=entry["requested"],
            decided=entry["decided"],
            reason=entry["reason"],
            sites=[_site_msg(s) for s in sites],
        )
