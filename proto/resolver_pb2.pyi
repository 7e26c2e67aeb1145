from idnode.proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignatureStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNATURE_STATUS_UNSPECIFIED: _ClassVar[SignatureStatus]
    SIGNATURE_STATUS_UNSIGNED: _ClassVar[SignatureStatus]
    SIGNATURE_STATUS_VALID: _ClassVar[SignatureStatus]
    SIGNATURE_STATUS_CHANGED: _ClassVar[SignatureStatus]
    SIGNATURE_STATUS_UNKNOWN_KEY: _ClassVar[SignatureStatus]
    SIGNATURE_STATUS_BAD_SIGNATURE: _ClassVar[SignatureStatus]
    SIGNATURE_STATUS_EXPIRED: _ClassVar[SignatureStatus]
    SIGNATURE_STATUS_UNTRUSTED: _ClassVar[SignatureStatus]
SIGNATURE_STATUS_UNSPECIFIED: SignatureStatus
SIGNATURE_STATUS_UNSIGNED: SignatureStatus
SIGNATURE_STATUS_VALID: SignatureStatus
SIGNATURE_STATUS_CHANGED: SignatureStatus
SIGNATURE_STATUS_UNKNOWN_KEY: SignatureStatus
SIGNATURE_STATUS_BAD_SIGNATURE: SignatureStatus
SIGNATURE_STATUS_EXPIRED: SignatureStatus
SIGNATURE_STATUS_UNTRUSTED: SignatureStatus

class ResolveRequest(_message.Message):
    __slots__ = ("handle", "indexes", "types")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    handle: str
    indexes: _containers.RepeatedScalarFieldContainer[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, handle: _Optional[str] = ..., indexes: _Optional[_Iterable[int]] = ..., types: _Optional[_Iterable[str]] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("response_code", "handle", "values", "message", "non_authoritative", "signature", "signature_message")
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NON_AUTHORITATIVE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    response_code: int
    handle: str
    values: _containers.RepeatedCompositeFieldContainer[_common_pb2.HandleValue]
    message: str
    non_authoritative: bool
    signature: SignatureStatus
    signature_message: str
    def __init__(self, response_code: _Optional[int] = ..., handle: _Optional[str] = ..., values: _Optional[_Iterable[_Union[_common_pb2.HandleValue, _Mapping]]] = ..., message: _Optional[str] = ..., non_authoritative: _Optional[bool] = ..., signature: _Optional[_Union[SignatureStatus, str]] = ..., signature_message: _Optional[str] = ...) -> None: ...

class BatchResolveRequest(_message.Message):
    __slots__ = ("handles", "indexes", "types")
    HANDLES_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    handles: _containers.RepeatedScalarFieldContainer[str]
    indexes: _containers.RepeatedScalarFieldContainer[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, handles: _Optional[_Iterable[str]] = ..., indexes: _Optional[_Iterable[int]] = ..., types: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchResolveResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ResolveResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[ResolveResponse, _Mapping]]] = ...) -> None: ...
