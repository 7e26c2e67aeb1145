from idnode.proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnterpriseStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTERPRISE_STATUS_UNSPECIFIED: _ClassVar[EnterpriseStatus]
    ENTERPRISE_STATUS_PENDING: _ClassVar[EnterpriseStatus]
    ENTERPRISE_STATUS_APPROVED: _ClassVar[EnterpriseStatus]
    ENTERPRISE_STATUS_SUSPENDED: _ClassVar[EnterpriseStatus]

class PrefixStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREFIX_STATUS_UNSPECIFIED: _ClassVar[PrefixStatus]
    PREFIX_STATUS_PENDING: _ClassVar[PrefixStatus]
    PREFIX_STATUS_APPROVED: _ClassVar[PrefixStatus]
    PREFIX_STATUS_REJECTED: _ClassVar[PrefixStatus]

class UpdateMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPDATE_MODE_REPLACE: _ClassVar[UpdateMode]
    UPDATE_MODE_ADD: _ClassVar[UpdateMode]
    UPDATE_MODE_MODIFY: _ClassVar[UpdateMode]
    UPDATE_MODE_REMOVE: _ClassVar[UpdateMode]
ENTERPRISE_STATUS_UNSPECIFIED: EnterpriseStatus
ENTERPRISE_STATUS_PENDING: EnterpriseStatus
ENTERPRISE_STATUS_APPROVED: EnterpriseStatus
ENTERPRISE_STATUS_SUSPENDED: EnterpriseStatus
PREFIX_STATUS_UNSPECIFIED: PrefixStatus
PREFIX_STATUS_PENDING: PrefixStatus
PREFIX_STATUS_APPROVED: PrefixStatus
PREFIX_STATUS_REJECTED: PrefixStatus
UPDATE_MODE_REPLACE: UpdateMode
UPDATE_MODE_ADD: UpdateMode
UPDATE_MODE_MODIFY: UpdateMode
UPDATE_MODE_REMOVE: UpdateMode

class Enterprise(_message.Message):
    __slots__ = ("credit_code", "name", "contact", "status", "prefixes", "created")
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PREFIXES_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    credit_code: str
    name: str
    contact: str
    status: EnterpriseStatus
    prefixes: _containers.RepeatedScalarFieldContainer[str]
    created: int
    def __init__(self, credit_code: _Optional[str] = ..., name: _Optional[str] = ..., contact: _Optional[str] = ..., status: _Optional[_Union[EnterpriseStatus, str]] = ..., prefixes: _Optional[_Iterable[str]] = ..., created: _Optional[int] = ...) -> None: ...

class ListEnterprisesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListEnterprisesResponse(_message.Message):
    __slots__ = ("enterprises",)
    ENTERPRISES_FIELD_NUMBER: _ClassVar[int]
    enterprises: _containers.RepeatedCompositeFieldContainer[Enterprise]
    def __init__(self, enterprises: _Optional[_Iterable[_Union[Enterprise, _Mapping]]] = ...) -> None: ...

class SetEnterpriseStatusRequest(_message.Message):
    __slots__ = ("credit_code", "status")
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    credit_code: str
    status: EnterpriseStatus
    def __init__(self, credit_code: _Optional[str] = ..., status: _Optional[_Union[EnterpriseStatus, str]] = ...) -> None: ...

class AllocatePrefixRequest(_message.Message):
    __slots__ = ("credit_code", "prefix")
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    credit_code: str
    prefix: str
    def __init__(self, credit_code: _Optional[str] = ..., prefix: _Optional[str] = ...) -> None: ...

class Prefix(_message.Message):
    __slots__ = ("prefix", "owner", "status", "created", "identifiers")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    owner: str
    status: PrefixStatus
    created: int
    identifiers: int
    def __init__(self, prefix: _Optional[str] = ..., owner: _Optional[str] = ..., status: _Optional[_Union[PrefixStatus, str]] = ..., created: _Optional[int] = ..., identifiers: _Optional[int] = ...) -> None: ...

class ListPrefixesRequest(_message.Message):
    __slots__ = ("credit_code",)
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    credit_code: str
    def __init__(self, credit_code: _Optional[str] = ...) -> None: ...

class ListPrefixesResponse(_message.Message):
    __slots__ = ("prefixes",)
    PREFIXES_FIELD_NUMBER: _ClassVar[int]
    prefixes: _containers.RepeatedCompositeFieldContainer[Prefix]
    def __init__(self, prefixes: _Optional[_Iterable[_Union[Prefix, _Mapping]]] = ...) -> None: ...

class TemplateItem(_message.Message):
    __slots__ = ("name", "id_type", "required", "metadata_type", "min_length", "max_length", "index")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    METADATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    MIN_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    name: str
    id_type: str
    required: bool
    metadata_type: str
    min_length: int
    max_length: int
    index: int
    def __init__(self, name: _Optional[str] = ..., id_type: _Optional[str] = ..., required: _Optional[bool] = ..., metadata_type: _Optional[str] = ..., min_length: _Optional[int] = ..., max_length: _Optional[int] = ..., index: _Optional[int] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("prefix", "version", "industry_code", "carrier_type", "description", "items", "created")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INDUSTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    CARRIER_TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    version: str
    industry_code: str
    carrier_type: str
    description: str
    items: _containers.RepeatedCompositeFieldContainer[TemplateItem]
    created: int
    def __init__(self, prefix: _Optional[str] = ..., version: _Optional[str] = ..., industry_code: _Optional[str] = ..., carrier_type: _Optional[str] = ..., description: _Optional[str] = ..., items: _Optional[_Iterable[_Union[TemplateItem, _Mapping]]] = ..., created: _Optional[int] = ...) -> None: ...

class GetTemplateRequest(_message.Message):
    __slots__ = ("prefix", "version")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    version: str
    def __init__(self, prefix: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("role", "credit_code", "label")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    role: str
    credit_code: str
    label: str
    def __init__(self, role: _Optional[str] = ..., credit_code: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class CreateTokenResponse(_message.Message):
    __slots__ = ("token_id", "token")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    token: str
    def __init__(self, token_id: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class RevokeTokenResponse(_message.Message):
    __slots__ = ("revoked",)
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    revoked: bool
    def __init__(self, revoked: _Optional[bool] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("role", "credit_code", "prefixes", "actor", "token_id")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    PREFIXES_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    role: str
    credit_code: str
    prefixes: _containers.RepeatedScalarFieldContainer[str]
    actor: str
    token_id: str
    def __init__(self, role: _Optional[str] = ..., credit_code: _Optional[str] = ..., prefixes: _Optional[_Iterable[str]] = ..., actor: _Optional[str] = ..., token_id: _Optional[str] = ...) -> None: ...

class IdentifierWrite(_message.Message):
    __slots__ = ("handle", "values", "template_version")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    handle: str
    values: _containers.RepeatedCompositeFieldContainer[_common_pb2.HandleValue]
    template_version: str
    def __init__(self, handle: _Optional[str] = ..., values: _Optional[_Iterable[_Union[_common_pb2.HandleValue, _Mapping]]] = ..., template_version: _Optional[str] = ...) -> None: ...

class IdentifierUpdate(_message.Message):
    __slots__ = ("handle", "mode", "values", "remove_indexes", "template_version")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    REMOVE_INDEXES_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    handle: str
    mode: UpdateMode
    values: _containers.RepeatedCompositeFieldContainer[_common_pb2.HandleValue]
    remove_indexes: _containers.RepeatedScalarFieldContainer[int]
    template_version: str
    def __init__(self, handle: _Optional[str] = ..., mode: _Optional[_Union[UpdateMode, str]] = ..., values: _Optional[_Iterable[_Union[_common_pb2.HandleValue, _Mapping]]] = ..., remove_indexes: _Optional[_Iterable[int]] = ..., template_version: _Optional[str] = ...) -> None: ...

class IdentifierDelete(_message.Message):
    __slots__ = ("handle",)
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    handle: str
    def __init__(self, handle: _Optional[str] = ...) -> None: ...

class WriteResult(_message.Message):
    __slots__ = ("handle", "response_code", "message", "created", "sequence")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    handle: str
    response_code: int
    message: str
    created: bool
    sequence: int
    def __init__(self, handle: _Optional[str] = ..., response_code: _Optional[int] = ..., message: _Optional[str] = ..., created: _Optional[bool] = ..., sequence: _Optional[int] = ...) -> None: ...

class BatchCreateRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[IdentifierWrite]
    def __init__(self, items: _Optional[_Iterable[_Union[IdentifierWrite, _Mapping]]] = ...) -> None: ...

class BatchUpdateRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[IdentifierUpdate]
    def __init__(self, items: _Optional[_Iterable[_Union[IdentifierUpdate, _Mapping]]] = ...) -> None: ...

class BatchDeleteRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[IdentifierDelete]
    def __init__(self, items: _Optional[_Iterable[_Union[IdentifierDelete, _Mapping]]] = ...) -> None: ...

class BatchWriteResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[WriteResult]
    def __init__(self, results: _Optional[_Iterable[_Union[WriteResult, _Mapping]]] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    def __init__(self, prefix: _Optional[str] = ...) -> None: ...

class IdentifierRecord(_message.Message):
    __slots__ = ("handle", "values", "template_version", "created", "updated")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    handle: str
    values: _containers.RepeatedCompositeFieldContainer[_common_pb2.HandleValue]
    template_version: str
    created: int
    updated: int
    def __init__(self, handle: _Optional[str] = ..., values: _Optional[_Iterable[_Union[_common_pb2.HandleValue, _Mapping]]] = ..., template_version: _Optional[str] = ..., created: _Optional[int] = ..., updated: _Optional[int] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PrefixStats(_message.Message):
    __slots__ = ("prefix", "identifiers", "registrations", "deletions", "resolutions_today", "errors_today")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    REGISTRATIONS_FIELD_NUMBER: _ClassVar[int]
    DELETIONS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTIONS_TODAY_FIELD_NUMBER: _ClassVar[int]
    ERRORS_TODAY_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    identifiers: int
    registrations: int
    deletions: int
    resolutions_today: int
    errors_today: int
    def __init__(self, prefix: _Optional[str] = ..., identifiers: _Optional[int] = ..., registrations: _Optional[int] = ..., deletions: _Optional[int] = ..., resolutions_today: _Optional[int] = ..., errors_today: _Optional[int] = ...) -> None: ...

class Stats(_message.Message):
    __slots__ = ("node_prefix", "identifiers", "tombstones", "enterprises", "prefixes", "changelog_sequence", "per_prefix", "map_size", "map_used", "readers_used", "readers_max", "fastpath", "version", "sync", "replication")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    TOMBSTONES_FIELD_NUMBER: _ClassVar[int]
    ENTERPRISES_FIELD_NUMBER: _ClassVar[int]
    PREFIXES_FIELD_NUMBER: _ClassVar[int]
    CHANGELOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PER_PREFIX_FIELD_NUMBER: _ClassVar[int]
    MAP_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAP_USED_FIELD_NUMBER: _ClassVar[int]
    READERS_USED_FIELD_NUMBER: _ClassVar[int]
    READERS_MAX_FIELD_NUMBER: _ClassVar[int]
    FASTPATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    identifiers: int
    tombstones: int
    enterprises: int
    prefixes: int
    changelog_sequence: int
    per_prefix: _containers.RepeatedCompositeFieldContainer[PrefixStats]
    map_size: int
    map_used: int
    readers_used: int
    readers_max: int
    fastpath: str
    version: str
    sync: SyncStats
    replication: ReplicationStats
    def __init__(self, node_prefix: _Optional[str] = ..., identifiers: _Optional[int] = ..., tombstones: _Optional[int] = ..., enterprises: _Optional[int] = ..., prefixes: _Optional[int] = ..., changelog_sequence: _Optional[int] = ..., per_prefix: _Optional[_Iterable[_Union[PrefixStats, _Mapping]]] = ..., map_size: _Optional[int] = ..., map_used: _Optional[int] = ..., readers_used: _Optional[int] = ..., readers_max: _Optional[int] = ..., fastpath: _Optional[str] = ..., version: _Optional[str] = ..., sync: _Optional[_Union[SyncStats, _Mapping]] = ..., replication: _Optional[_Union[ReplicationStats, _Mapping]] = ...) -> None: ...

class SyncStats(_message.Message):
    __slots__ = ("top", "last_sequence", "acked_sequence", "lag_sequences", "lag_seconds")
    TOP_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACKED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LAG_SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    top: str
    last_sequence: int
    acked_sequence: int
    lag_sequences: int
    lag_seconds: float
    def __init__(self, top: _Optional[str] = ..., last_sequence: _Optional[int] = ..., acked_sequence: _Optional[int] = ..., lag_sequences: _Optional[int] = ..., lag_seconds: _Optional[float] = ...) -> None: ...

class ReplicationStats(_message.Message):
    __slots__ = ("primary", "state", "applied_sequence", "primary_sequence", "lag_sequences", "lag_seconds", "updated", "error")
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LAG_SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    primary: str
    state: str
    applied_sequence: int
    primary_sequence: int
    lag_sequences: int
    lag_seconds: float
    updated: float
    error: str
    def __init__(self, primary: _Optional[str] = ..., state: _Optional[str] = ..., applied_sequence: _Optional[int] = ..., primary_sequence: _Optional[int] = ..., lag_sequences: _Optional[int] = ..., lag_seconds: _Optional[float] = ..., updated: _Optional[float] = ..., error: _Optional[str] = ...) -> None: ...
