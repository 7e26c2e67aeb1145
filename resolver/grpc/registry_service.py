"""The Registry gRPC service: protobuf requests to registry model calls and back.

A plain ``RegistryServicer`` for grpc.aio. Each method authenticates the
caller from the ``authorization`` metadata, converts the request to the
registry model (:mod:`idnode.registry.model`, :class:`Value.from_pb`), calls
the :class:`~idnode.registry.service.Registry` facade and converts the result
back. Every failure leaves through :func:`idnode.resolver.grpc.status.abort`.
In batch writes an item that cannot be decoded is passed to the facade as
its HandleError, so it is reported in that item's place.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from idnode import _fastpath, metrics
from idnode.proto import registry_pb2, registry_pb2_grpc
from idnode.registry.auth import Principal
from idnode.registry.errors import HandleError, InvalidValue
from idnode.registry.model import (
    Enterprise,
    IdentifierUpdate,
    IdentifierWrite,
    PrefixInfo,
    Record,
    Template,
    TemplateItem,
    WriteOutcome,
)
from idnode.registry.values import Value
from idnode.resolver.grpc.resolver_service import principal_of
from idnode.resolver.grpc.status import abort

__all__ = ["SERVICE_NAME", "RegistryService", "node_version"]

SERVICE_NAME: str = registry_pb2.DESCRIPTOR.services_by_name["Registry"].full_name

_ENTERPRISE_STATUS_TO_PB = {
    "pending": registry_pb2.ENTERPRISE_STATUS_PENDING,
    "approved": registry_pb2.ENTERPRISE_STATUS_APPROVED,
    "suspended": registry_pb2.ENTERPRISE_STATUS_SUSPENDED,
}
_ENTERPRISE_STATUS_FROM_PB = {v: k for k, v in _ENTERPRISE_STATUS_TO_PB.items()}
_PREFIX_STATUS_TO_PB = {
    "pending": registry_pb2.PREFIX_STATUS_PENDING,
    "approved": registry_pb2.PREFIX_STATUS_APPROVED,
    "rejected": registry_pb2.PREFIX_STATUS_REJECTED,
}
_UPDATE_MODE_FROM_PB = {
    registry_pb2.UPDATE_MODE_REPLACE: "replace",
    registry_pb2.UPDATE_MODE_ADD: "add",
    registry_pb2.UPDATE_MODE_MODIFY: "modify",
    registry_pb2.UPDATE_MODE_REMOVE: "remove",
}
_STATS_FIELDS = (
    "node_prefix",
    "identifiers",
    "tombstones",
    "enterprises",
    "prefixes",
    "changelog_sequence",
    "map_size",
    "map_used",
    "readers_used",
    "readers_max",
)
_PREFIX_STATS_FIELDS = ("prefix", "identifiers", "registrations", "deletions", "resolutions_today", "errors_today")


def node_version() -> str:
    """The installed idnode version, or ``0+unknown`` when not installed."""
    try:
        return importlib.metadata.version("idnode")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


# -- protobuf -> model ---------------------------------------------------------


def _values(msgs: Any, handle: str) -> tuple[Value, ...]:
    try:
        return tuple(Value.from_pb(m) for m in msgs)
    except HandleError as err:
        if not err.handle:
            err.handle = handle
        raise


def _identifier_write(msg: registry_pb2.IdentifierWrite) -> IdentifierWrite:
    """Raises InvalidValue (202) naming the handle when a value is malformed."""
    return IdentifierWrite(
        handle=msg.handle,
        values=_values(msg.values, msg.handle),
        template_version=msg.template_version,
    )


def _identifier_update(msg: registry_pb2.IdentifierUpdate) -> IdentifierUpdate:
    """Raises InvalidValue (202) for an unknown mode or a malformed value."""
    mode = _UPDATE_MODE_FROM_PB.get(msg.mode)
    if mode is None:
        raise InvalidValue(f"unknown update mode {msg.mode}", handle=msg.handle)
    return IdentifierUpdate(
        handle=msg.handle,
        mode=mode,
        values=_values(msg.values, msg.handle),
        remove_indexes=tuple(msg.remove_indexes),
        template_version=msg.template_version,
    )


def _or_error(decode: Callable[[Any], Any], msg: Any) -> Any:
    """The decoded batch item, or the HandleError that stands in its place."""
    try:
        return decode(msg)
    except HandleError as err:
        return err


def template_from_pb(msg: registry_pb2.Template) -> Template:
    return Template(
        prefix=msg.prefix,
        version=msg.version,
        items=tuple(
            TemplateItem(
                name=i.name,
                id_type=i.id_type or "string",
                required=i.required,
                metadata_type=i.metadata_type or "string",
                min_length=i.min_length,
                max_length=i.max_length,
                index=i.index,
            )
            for i in msg.items
        ),
        industry_code=msg.industry_code,
        carrier_type=msg.carrier_type,
        description=msg.description,
    )


# -- model -> protobuf ---------------------------------------------------------


def _enterprise_pb(e: Enterprise) -> registry_pb2.Enterprise:
    return registry_pb2.Enterprise(
        credit_code=e.credit_code,
        name=e.name,
        contact=e.contact,
        status=_ENTERPRISE_STATUS_TO_PB.get(e.status, registry_pb2.ENTERPRISE_STATUS_UNSPECIFIED),
        prefixes=e.prefixes,
        created=e.created,
    )


def _prefix_pb(p: PrefixInfo) -> registry_pb2.Prefix:
    return registry_pb2.Prefix(
        prefix=p.prefix,
        owner=p.owner,
        status=_PREFIX_STATUS_TO_PB.get(p.status, registry_pb2.PREFIX_STATUS_UNSPECIFIED),
        created=p.created,
        identifiers=p.identifiers,
    )


def template_to_pb(t: Template) -> registry_pb2.Template:
    return registry_pb2.Template(
        prefix=t.prefix,
        version=t.version,
        industry_code=t.industry_code,
        carrier_type=t.carrier_type,
        description=t.description,
        items=[
            registry_pb2.TemplateItem(
                name=i.name,
                id_type=i.id_type,
                required=i.required,
                metadata_type=i.metadata_type,
                min_length=i.min_length,
                max_length=i.max_length,
                index=i.index,
            )
            for i in t.items
        ],
        created=t.created,
    )


def _write_result_pb(o: WriteOutcome) -> registry_pb2.WriteResult:
    return registry_pb2.WriteResult(
        handle=o.handle,
        response_code=o.code,
        message=o.message,
        created=o.created,
        sequence=o.sequence,
    )


def _batch_pb(outcomes: list[WriteOutcome]) -> registry_pb2.BatchWriteResponse:
    return registry_pb2.BatchWriteResponse(results=[_write_result_pb(o) for o in outcomes])


def _record_pb(r: Record) -> registry_pb2.IdentifierRecord:
    return registry_pb2.IdentifierRecord(
        handle=r.handle,
        values=[v.to_pb() for v in r.values],
        template_version=r.template_version,
        created=r.created,
        updated=r.updated,
    )


def _stats_pb(stats: dict) -> registry_pb2.Stats:
    msg = registry_pb2.Stats(
        **{name: stats[name] for name in _STATS_FIELDS if stats.get(name) is not None},
        fastpath=_fastpath.IMPLEMENTATION,
        version=node_version(),
    )
    msg.per_prefix.extend(
        registry_pb2.PrefixStats(**{name: p[name] for name in _PREFIX_STATS_FIELDS if p.get(name) is not None})
        for p in stats.get("per_prefix") or ()
    )
    if stats.get("sync") is not None:
        msg.sync.CopyFrom(registry_pb2.SyncStats(**stats["sync"]))
    if stats.get("replication") is not None:
        msg.replication.CopyFrom(registry_pb2.ReplicationStats(**stats["replication"]))
    return msg


# -- the service ---------------------------------------------------------------

_Method = Callable[[Any, Any, Principal], Awaitable[Any]]


def _edge(method: _Method) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    """Authenticate the caller, run ``method(self, request, principal)``, map any failure."""

    @functools.wraps(method)
    async def call(self: RegistryService, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, principal_of(context, self._registry))
        except Exception as exc:
            await abort(context, exc)

    return call


def _count_batch(method: str, items: int) -> None:
    """``idnode_batch_items`` of a Batch* call, counted where it runs (the writer process of a prefork node)."""
    tally = metrics.tally()
    if tally is not None:
        tally.batch("grpc", method, items)


class RegistryService(registry_pb2_grpc.RegistryServicer):
    """``idnode.v1.Registry`` over one registry facade."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    # -- enterprises, prefixes, templates --------------------------------------

    @_edge
    async def AddEnterprise(self, request: registry_pb2.Enterprise, principal: Principal) -> registry_pb2.Enterprise:
        e = await self._registry.add_enterprise(principal, request.credit_code, request.name, request.contact)
        return _enterprise_pb(e)

    @_edge
    async def ListEnterprises(
        self, request: registry_pb2.ListEnterprisesRequest, principal: Principal
    ) -> registry_pb2.ListEnterprisesResponse:
        return registry_pb2.ListEnterprisesResponse(
            enterprises=[_enterprise_pb(e) for e in self._registry.list_enterprises(principal)]
        )

    @_edge
    async def SetEnterpriseStatus(
        self, request: registry_pb2.SetEnterpriseStatusRequest, principal: Principal
    ) -> registry_pb2.Enterprise:
        status = _ENTERPRISE_STATUS_FROM_PB.get(request.status)
        if status is None:
            raise InvalidValue("status must be one of PENDING, APPROVED, SUSPENDED")
        e = await self._registry.set_enterprise_status(principal, request.credit_code, status)
        return _enterprise_pb(e)

    @_edge
    async def AllocatePrefix(
        self, request: registry_pb2.AllocatePrefixRequest, principal: Principal
    ) -> registry_pb2.Prefix:
        p = await self._registry.allocate_prefix(principal, request.credit_code, request.prefix)
        return _prefix_pb(p)

    @_edge
    async def ListPrefixes(
        self, request: registry_pb2.ListPrefixesRequest, principal: Principal
    ) -> registry_pb2.ListPrefixesResponse:
        prefixes = self._registry.list_prefixes(principal, request.credit_code)
        return registry_pb2.ListPrefixesResponse(prefixes=[_prefix_pb(p) for p in prefixes])

    @_edge
    async def PutTemplate(self, request: registry_pb2.Template, principal: Principal) -> registry_pb2.Template:
        return template_to_pb(await self._registry.put_template(principal, template_from_pb(request)))

    @_edge
    async def GetTemplate(
        self, request: registry_pb2.GetTemplateRequest, principal: Principal
    ) -> registry_pb2.Template:
        return template_to_pb(self._registry.get_template(principal, request.prefix, request.version))

    # -- credentials -----------------------------------------------------------

    @_edge
    async def CreateToken(
        self, request: registry_pb2.CreateTokenRequest, principal: Principal
    ) -> registry_pb2.CreateTokenResponse:
        issued = await self._registry.create_token(principal, request.role, request.credit_code, request.label)
        return registry_pb2.CreateTokenResponse(token_id=issued.token_id, token=issued.token)

    @_edge
    async def RevokeToken(
        self, request: registry_pb2.RevokeTokenRequest, principal: Principal
    ) -> registry_pb2.RevokeTokenResponse:
        revoked = await self._registry.revoke_token(principal, request.token_id)
        return registry_pb2.RevokeTokenResponse(revoked=revoked)

    @_edge
    async def WhoAmI(self, request: registry_pb2.WhoAmIRequest, principal: Principal) -> registry_pb2.WhoAmIResponse:
        role, credit_code, prefixes, actor, token_id = self._registry.whoami(principal)
        return registry_pb2.WhoAmIResponse(
            role=role, credit_code=credit_code, prefixes=prefixes, actor=actor, token_id=token_id
        )

    # -- identifiers -----------------------------------------------------------

    @_edge
    async def CreateIdentifier(
        self, request: registry_pb2.IdentifierWrite, principal: Principal
    ) -> registry_pb2.WriteResult:
        return _write_result_pb(await self._registry.create(principal, _identifier_write(request)))

    @_edge
    async def UpdateIdentifier(
        self, request: registry_pb2.IdentifierUpdate, principal: Principal
    ) -> registry_pb2.WriteResult:
        return _write_result_pb(await self._registry.update(principal, _identifier_update(request)))

    @_edge
    async def DeleteIdentifier(
        self, request: registry_pb2.IdentifierDelete, principal: Principal
    ) -> registry_pb2.WriteResult:
        return _write_result_pb(await self._registry.delete(principal, request.handle))

    @_edge
    async def BatchCreate(
        self, request: registry_pb2.BatchCreateRequest, principal: Principal
    ) -> registry_pb2.BatchWriteResponse:
        _count_batch("BatchCreate", len(request.items))
        items = [_or_error(_identifier_write, item) for item in request.items]
        return _batch_pb(await self._registry.batch_create(principal, items))

    @_edge
    async def BatchUpdate(
        self, request: registry_pb2.BatchUpdateRequest, principal: Principal
    ) -> registry_pb2.BatchWriteResponse:
        _count_batch("BatchUpdate", len(request.items))
        items = [_or_error(_identifier_update, item) for item in request.items]
        return _batch_pb(await self._registry.batch_update(principal, items))

    @_edge
    async def BatchDelete(
        self, request: registry_pb2.BatchDeleteRequest, principal: Principal
    ) -> registry_pb2.BatchWriteResponse:
        _count_batch("BatchDelete", len(request.items))
        handles = [item.handle for item in request.items]
        return _batch_pb(await self._registry.batch_delete(principal, handles))

    async def ExportIdentifiers(
        self, request: registry_pb2.ExportRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[registry_pb2.IdentifierRecord]:
        """Stream every live identifier the caller may list, in key order."""
        try:
            principal = principal_of(context, self._registry)
            for record in self._registry.export(principal, request.prefix):
                yield _record_pb(record)
        except Exception as exc:
            await abort(context, exc)

    @_edge
    async def GetStats(self, request: registry_pb2.StatsRequest, principal: Principal) -> registry_pb2.Stats:
        return _stats_pb(self._registry.stats(principal))
