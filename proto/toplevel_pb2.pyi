from idnode.proto import common_pb2 as _common_pb2
from idnode.proto import registry_pb2 as _registry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SiteProtocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SITE_PROTOCOL_UNSPECIFIED: _ClassVar[SiteProtocol]
    SITE_PROTOCOL_GRPC: _ClassVar[SiteProtocol]
    SITE_PROTOCOL_HTTP: _ClassVar[SiteProtocol]
    SITE_PROTOCOL_DNS: _ClassVar[SiteProtocol]

class ChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_KIND_UNSPECIFIED: _ClassVar[ChangeKind]
    CHANGE_KIND_CREATE: _ClassVar[ChangeKind]
    CHANGE_KIND_UPDATE: _ClassVar[ChangeKind]
    CHANGE_KIND_DELETE: _ClassVar[ChangeKind]
    CHANGE_KIND_OTHER: _ClassVar[ChangeKind]
SITE_PROTOCOL_UNSPECIFIED: SiteProtocol
SITE_PROTOCOL_GRPC: SiteProtocol
SITE_PROTOCOL_HTTP: SiteProtocol
SITE_PROTOCOL_DNS: SiteProtocol
CHANGE_KIND_UNSPECIFIED: ChangeKind
CHANGE_KIND_CREATE: ChangeKind
CHANGE_KIND_UPDATE: ChangeKind
CHANGE_KIND_DELETE: ChangeKind
CHANGE_KIND_OTHER: ChangeKind

class Site(_message.Message):
    __slots__ = ("protocol", "host", "port", "mirror", "tls")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    MIRROR_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    protocol: SiteProtocol
    host: str
    port: int
    mirror: bool
    tls: bool
    def __init__(self, protocol: _Optional[_Union[SiteProtocol, str]] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., mirror: _Optional[bool] = ..., tls: _Optional[bool] = ...) -> None: ...

class RegisterNodeRequest(_message.Message):
    __slots__ = ("node_prefix", "sites", "node_id", "version")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    sites: _containers.RepeatedCompositeFieldContainer[Site]
    node_id: str
    version: str
    def __init__(self, node_prefix: _Optional[str] = ..., sites: _Optional[_Iterable[_Union[Site, _Mapping]]] = ..., node_id: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("node_prefix", "node_id", "sites", "registered", "last_seen", "last_sequence", "highest_contiguous", "prefixes", "version")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HIGHEST_CONTIGUOUS_FIELD_NUMBER: _ClassVar[int]
    PREFIXES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    node_id: str
    sites: _containers.RepeatedCompositeFieldContainer[Site]
    registered: int
    last_seen: int
    last_sequence: int
    highest_contiguous: int
    prefixes: int
    version: str
    def __init__(self, node_prefix: _Optional[str] = ..., node_id: _Optional[str] = ..., sites: _Optional[_Iterable[_Union[Site, _Mapping]]] = ..., registered: _Optional[int] = ..., last_seen: _Optional[int] = ..., last_sequence: _Optional[int] = ..., highest_contiguous: _Optional[int] = ..., prefixes: _Optional[int] = ..., version: _Optional[str] = ...) -> None: ...

class RequestPrefixRequest(_message.Message):
    __slots__ = ("node_prefix", "prefix", "credit_code", "sites")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    prefix: str
    credit_code: str
    sites: _containers.RepeatedCompositeFieldContainer[Site]
    def __init__(self, node_prefix: _Optional[str] = ..., prefix: _Optional[str] = ..., credit_code: _Optional[str] = ..., sites: _Optional[_Iterable[_Union[Site, _Mapping]]] = ...) -> None: ...

class GetPrefixStatusRequest(_message.Message):
    __slots__ = ("node_prefix", "prefix")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    prefix: str
    def __init__(self, node_prefix: _Optional[str] = ..., prefix: _Optional[str] = ...) -> None: ...

class PrefixApproval(_message.Message):
    __slots__ = ("prefix", "node_prefix", "credit_code", "status", "requested", "decided", "reason", "sites")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    DECIDED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    node_prefix: str
    credit_code: str
    status: _registry_pb2.PrefixStatus
    requested: int
    decided: int
    reason: str
    sites: _containers.RepeatedCompositeFieldContainer[Site]
    def __init__(self, prefix: _Optional[str] = ..., node_prefix: _Optional[str] = ..., credit_code: _Optional[str] = ..., status: _Optional[_Union[_registry_pb2.PrefixStatus, str]] = ..., requested: _Optional[int] = ..., decided: _Optional[int] = ..., reason: _Optional[str] = ..., sites: _Optional[_Iterable[_Union[Site, _Mapping]]] = ...) -> None: ...

class Change(_message.Message):
    __slots__ = ("sequence", "kind", "handle", "record", "time", "key", "db", "entry")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    kind: ChangeKind
    handle: str
    record: bytes
    time: int
    key: bytes
    db: str
    entry: bytes
    def __init__(self, sequence: _Optional[int] = ..., kind: _Optional[_Union[ChangeKind, str]] = ..., handle: _Optional[str] = ..., record: _Optional[bytes] = ..., time: _Optional[int] = ..., key: _Optional[bytes] = ..., db: _Optional[str] = ..., entry: _Optional[bytes] = ...) -> None: ...

class PushChangesRequest(_message.Message):
    __slots__ = ("node_prefix", "changes")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    changes: _containers.RepeatedCompositeFieldContainer[Change]
    def __init__(self, node_prefix: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[Change, _Mapping]]] = ...) -> None: ...

class PushAck(_message.Message):
    __slots__ = ("highest_contiguous", "applied", "duplicates", "rejected")
    HIGHEST_CONTIGUOUS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    highest_contiguous: int
    applied: int
    duplicates: int
    rejected: int
    def __init__(self, highest_contiguous: _Optional[int] = ..., applied: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ...) -> None: ...

class PrefixDayStats(_message.Message):
    __slots__ = ("prefix", "registrations", "resolutions", "errors")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    REGISTRATIONS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTIONS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    registrations: int
    resolutions: int
    errors: int
    def __init__(self, prefix: _Optional[str] = ..., registrations: _Optional[int] = ..., resolutions: _Optional[int] = ..., errors: _Optional[int] = ...) -> None: ...

class StatsReport(_message.Message):
    __slots__ = ("node_prefix", "day", "rows", "connected_enterprises", "received")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_ENTERPRISES_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    day: str
    rows: _containers.RepeatedCompositeFieldContainer[PrefixDayStats]
    connected_enterprises: int
    received: int
    def __init__(self, node_prefix: _Optional[str] = ..., day: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[PrefixDayStats, _Mapping]]] = ..., connected_enterprises: _Optional[int] = ..., received: _Optional[int] = ...) -> None: ...

class StatsReportAck(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: int
    def __init__(self, rows: _Optional[int] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("node_prefix", "last_sequence", "time")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    last_sequence: int
    time: int
    def __init__(self, node_prefix: _Optional[str] = ..., last_sequence: _Optional[int] = ..., time: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("time", "highest_contiguous")
    TIME_FIELD_NUMBER: _ClassVar[int]
    HIGHEST_CONTIGUOUS_FIELD_NUMBER: _ClassVar[int]
    time: int
    highest_contiguous: int
    def __init__(self, time: _Optional[int] = ..., highest_contiguous: _Optional[int] = ...) -> None: ...

class FetchChangesRequest(_message.Message):
    __slots__ = ("node_prefix", "after_sequence", "limit")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    after_sequence: int
    limit: int
    def __init__(self, node_prefix: _Optional[str] = ..., after_sequence: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ResolvePrefixRequest(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    def __init__(self, prefix: _Optional[str] = ...) -> None: ...

class ResolvePrefixResponse(_message.Message):
    __slots__ = ("response_code", "handle", "node_prefix", "sites", "values", "status", "message")
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    response_code: int
    handle: str
    node_prefix: str
    sites: _containers.RepeatedCompositeFieldContainer[Site]
    values: _containers.RepeatedCompositeFieldContainer[_common_pb2.HandleValue]
    status: _registry_pb2.PrefixStatus
    message: str
    def __init__(self, response_code: _Optional[int] = ..., handle: _Optional[str] = ..., node_prefix: _Optional[str] = ..., sites: _Optional[_Iterable[_Union[Site, _Mapping]]] = ..., values: _Optional[_Iterable[_Union[_common_pb2.HandleValue, _Mapping]]] = ..., status: _Optional[_Union[_registry_pb2.PrefixStatus, str]] = ..., message: _Optional[str] = ...) -> None: ...

class PrefixDecision(_message.Message):
    __slots__ = ("prefix", "reason")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    reason: str
    def __init__(self, prefix: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ...) -> None: ...

class ListPrefixApprovalsRequest(_message.Message):
    __slots__ = ("node_prefix", "status")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    status: _registry_pb2.PrefixStatus
    def __init__(self, node_prefix: _Optional[str] = ..., status: _Optional[_Union[_registry_pb2.PrefixStatus, str]] = ...) -> None: ...

class ListPrefixApprovalsResponse(_message.Message):
    __slots__ = ("prefixes",)
    PREFIXES_FIELD_NUMBER: _ClassVar[int]
    prefixes: _containers.RepeatedCompositeFieldContainer[PrefixApproval]
    def __init__(self, prefixes: _Optional[_Iterable[_Union[PrefixApproval, _Mapping]]] = ...) -> None: ...

class StatsQuery(_message.Message):
    __slots__ = ("node_prefix", "day")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    day: str
    def __init__(self, node_prefix: _Optional[str] = ..., day: _Optional[str] = ...) -> None: ...

class StatsReports(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[StatsReport]
    def __init__(self, reports: _Optional[_Iterable[_Union[StatsReport, _Mapping]]] = ...) -> None: ...
