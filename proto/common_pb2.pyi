from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DataFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_FORMAT_UNSPECIFIED: _ClassVar[DataFormat]
    DATA_FORMAT_STRING: _ClassVar[DataFormat]
    DATA_FORMAT_BASE64: _ClassVar[DataFormat]
    DATA_FORMAT_HEX: _ClassVar[DataFormat]
    DATA_FORMAT_ADMIN: _ClassVar[DataFormat]
    DATA_FORMAT_VLIST: _ClassVar[DataFormat]
DATA_FORMAT_UNSPECIFIED: DataFormat
DATA_FORMAT_STRING: DataFormat
DATA_FORMAT_BASE64: DataFormat
DATA_FORMAT_HEX: DataFormat
DATA_FORMAT_ADMIN: DataFormat
DATA_FORMAT_VLIST: DataFormat

class Reference(_message.Message):
    __slots__ = ("handle", "index")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    handle: str
    index: int
    def __init__(self, handle: _Optional[str] = ..., index: _Optional[int] = ...) -> None: ...

class AdminData(_message.Message):
    __slots__ = ("handle", "index", "permissions")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    handle: str
    index: int
    permissions: int
    def __init__(self, handle: _Optional[str] = ..., index: _Optional[int] = ..., permissions: _Optional[int] = ...) -> None: ...

class HandleValue(_message.Message):
    __slots__ = ("index", "type", "format", "data", "admin", "vlist", "ttl", "ttl_absolute", "timestamp", "permissions", "references")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    VLIST_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    TTL_ABSOLUTE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    index: int
    type: str
    format: DataFormat
    data: bytes
    admin: AdminData
    vlist: _containers.RepeatedCompositeFieldContainer[Reference]
    ttl: int
    ttl_absolute: bool
    timestamp: int
    permissions: int
    references: _containers.RepeatedCompositeFieldContainer[Reference]
    def __init__(self, index: _Optional[int] = ..., type: _Optional[str] = ..., format: _Optional[_Union[DataFormat, str]] = ..., data: _Optional[bytes] = ..., admin: _Optional[_Union[AdminData, _Mapping]] = ..., vlist: _Optional[_Iterable[_Union[Reference, _Mapping]]] = ..., ttl: _Optional[int] = ..., ttl_absolute: _Optional[bool] = ..., timestamp: _Optional[int] = ..., permissions: _Optional[int] = ..., references: _Optional[_Iterable[_Union[Reference, _Mapping]]] = ...) -> None: ...

class HandleError(_message.Message):
    __slots__ = ("response_code", "message", "handle")
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    response_code: int
    message: str
    handle: str
    def __init__(self, response_code: _Optional[int] = ..., message: _Optional[str] = ..., handle: _Optional[str] = ...) -> None: ...
