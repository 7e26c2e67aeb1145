"""Plain, immutable records the registry hands to front ends and CLI.

Front ends convert these to their protocol (protobuf, JSON); the registry
never builds protocol objects for them.
"""

from __future__ import annotations

import dataclasses

from idnode.registry.errors import HandleError
from idnode.registry.values import Value

ENTERPRISE_STATUSES = ("pending", "approved", "suspended")
PREFIX_STATUSES = ("pending", "approved", "rejected")
UPDATE_MODES = ("replace", "add", "modify", "remove", "merge")  # merge: add or modify, by index
MAX_BATCH = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class Enterprise:
    credit_code: str  # unified social credit code, validated
    name: str
    contact: str
    status: str  # one of ENTERPRISE_STATUSES
    created: int  # seconds since 1970 UTC
    prefixes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class PrefixInfo:
    prefix: str
    owner: str  # credit code of the owning enterprise
    status: str  # one of PREFIX_STATUSES
    created: int
    identifiers: int = 0  # live identifiers under it


@dataclasses.dataclass(frozen=True, slots=True)
class TemplateItem:
    """One attribute of a metadata template (元数据模板)."""

    name: str  # the value type it governs, e.g. "productName"
    id_type: str = "string"
    required: bool = False
    metadata_type: str = "string"  # string | number | integer | url | date | datetime | gtin | email | boolean
    min_length: int = 0
    max_length: int = 0  # 0 = no maximum
    index: int = 0  # 0 = any index


@dataclasses.dataclass(frozen=True, slots=True)
class Template:
    prefix: str
    version: str
    items: tuple[TemplateItem, ...]
    industry_code: str = ""
    carrier_type: str = ""
    description: str = ""
    created: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class TokenInfo:
    """What may be shown of an issued token: never its secret nor its digest."""

    token_id: str
    role: str
    credit_code: str
    label: str
    created: int  # seconds since 1970 UTC
    revoked: int = 0  # when revoked; 0 = active


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedToken:
    token_id: str
    token: str  # the whole secret credential; shown once, never stored


@dataclasses.dataclass(frozen=True, slots=True)
class IdentifierWrite:
    """A create: the handle as given (normalised by the registry) and its values."""

    handle: str
    values: tuple[Value, ...]
    template_version: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class IdentifierUpdate:
    handle: str
    mode: str = "replace"  # one of UPDATE_MODES
    values: tuple[Value, ...] = ()
    remove_indexes: tuple[int, ...] = ()
    template_version: str = ""  # empty = keep the current one


@dataclasses.dataclass(frozen=True, slots=True)
class WriteOutcome:
    """The result of one write; batches return one per item, in order."""

    handle: str
    code: int = 1  # Handle response code, 1 = success
    message: str = ""
    created: bool = False
    sequence: int = 0  # change-log sequence; 0 = nothing written
    # the failure itself (field, problem, params for a localized message); not part of equality
    error: HandleError | None = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def failed(cls, handle: str, error: HandleError) -> WriteOutcome:
        return cls(handle=error.handle or handle, code=error.code, message=error.message, error=error)


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """A decoded identifier record (export, CLI, REST)."""

    handle: str
    values: tuple[Value, ...]
    template_version: str = ""
    created: int = 0
    updated: int = 0
    deleted: bool = False
