from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReplicationInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReplicationInfo(_message.Message):
    __slots__ = ("node_prefix", "first_sequence", "last_sequence", "pruned_sequence", "version")
    NODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PRUNED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    node_prefix: str
    first_sequence: int
    last_sequence: int
    pruned_sequence: int
    version: str
    def __init__(self, node_prefix: _Optional[str] = ..., first_sequence: _Optional[int] = ..., last_sequence: _Optional[int] = ..., pruned_sequence: _Optional[int] = ..., version: _Optional[str] = ...) -> None: ...

class FollowRequest(_message.Message):
    __slots__ = ("from_sequence", "max_entries", "replica_id")
    FROM_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    MAX_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    from_sequence: int
    max_entries: int
    replica_id: str
    def __init__(self, from_sequence: _Optional[int] = ..., max_entries: _Optional[int] = ..., replica_id: _Optional[str] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("sequence", "entry")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    entry: bytes
    def __init__(self, sequence: _Optional[int] = ..., entry: _Optional[bytes] = ...) -> None: ...

class FollowResponse(_message.Message):
    __slots__ = ("entries", "primary_sequence", "primary_time")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_TIME_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    primary_sequence: int
    primary_time: float
    def __init__(self, entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ..., primary_sequence: _Optional[int] = ..., primary_time: _Optional[float] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ("chunk_bytes",)
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    chunk_bytes: int
    def __init__(self, chunk_bytes: _Optional[int] = ...) -> None: ...

class SnapshotItem(_message.Message):
    __slots__ = ("db", "key", "value")
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    db: str
    key: bytes
    value: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class SnapshotChunk(_message.Message):
    __slots__ = ("items", "done", "sequence", "sequence_digest", "items_total", "primary_time")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ITEMS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_TIME_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[SnapshotItem]
    done: bool
    sequence: int
    sequence_digest: bytes
    items_total: int
    primary_time: float
    def __init__(self, items: _Optional[_Iterable[_Union[SnapshotItem, _Mapping]]] = ..., done: _Optional[bool] = ..., sequence: _Optional[int] = ..., sequence_digest: _Optional[bytes] = ..., items_total: _Optional[int] = ..., primary_time: _Optional[float] = ...) -> None: ...
