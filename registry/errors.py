"""The Handle response-code vocabulary as typed exceptions, plus store errors.

Every failure the domain knows is one subclass of :class:`HandleError`
carrying its Handle response code (DOMAIN.md section 3). They are raised deep
and mapped once at each edge: ``resolver/grpc/status.py`` maps them to gRPC
status codes, the HTTP and DNS front ends to theirs. The docstring of each
class is its default message.
"""

from __future__ import annotations

from collections.abc import Mapping


class HandleError(Exception):
    """error"""

    code: int = 2

    def __init__(
        self,
        message: str | None = None,
        *,
        handle: str = "",
        field: str | int | None = None,
        problem: str = "",
        params: Mapping[str, str | int] | None = None,
    ) -> None:
        """``message`` is the English text every API shows. ``field`` (a template item name or a value index),
        ``problem`` (a stable id such as ``"too_long"``, see :data:`PROBLEMS`) and ``params`` (e.g.
        ``{"max": 64}``) describe the same failure for front ends that word it themselves (the console, in the
        page's language); they are empty where a check has no structured form."""
        self.message = message or (self.__doc__ or "").strip()
        self.handle = handle
        self.field = field
        self.problem = problem
        self.params: dict[str, str | int] = dict(params or {})
        super().__init__(self.message)


# Stable ids of the value checks' problems (``registry/templates.py`` check_values) and their params.
PROBLEMS: dict[str, tuple[str, ...]] = {
    "required": (),  # a required template item is missing (field = item name)
    "too_short": ("min",),  # fewer than `min` characters
    "too_long": ("max",),  # more than `max` characters
    "not_number": (),  # metadata type number: not a finite decimal number
    "not_integer": (),
    "not_url": (),  # not an http, https or ftp URL with a host
    "not_date": (),  # not YYYY-MM-DD or not a calendar date
    "not_datetime": (),  # not an ISO 8601 date and time
    "not_gtin": (),  # not 8, 12, 13 or 14 digits with a valid check digit
    "not_email": (),
    "not_boolean": (),  # not true or false
    "not_in_template": ("type",),  # the value's type is no item of the template (field = value index)
    "wrong_index": ("index",),  # the item must sit at `index`
    "repeated": ("first",),  # the item was already given at value index `first`
}


class ServerError(HandleError):
    """internal server error"""

    code = 2


class ServerBusy(HandleError):
    """server too busy, retry later"""

    code = 3


class StorageFull(ServerBusy):
    """the store is full: no space for writes (reads still work)"""

    code = 3
    http_status = 507  # Insufficient Storage; gRPC RESOURCE_EXHAUSTED (code 3)


class ProtocolError(HandleError):
    """malformed request"""

    code = 4


class OperationNotSupported(HandleError):
    """operation not supported"""

    code = 5


class RecursionTooDeep(HandleError):
    """recursion count too high"""

    code = 6


class HandleNotFound(HandleError):
    """handle not found"""

    code = 100


class HandleDeleted(HandleNotFound):
    """handle was deleted"""

    code = 100


class HandleAlreadyExists(HandleError):
    """handle already exists with different content"""

    code = 101


class InvalidHandle(HandleError):
    """invalid handle"""

    code = 102


class ValuesNotFound(HandleError):
    """values not found"""

    code = 200


class ValueAlreadyExists(HandleError):
    """value already exists"""

    code = 201


class InvalidValue(HandleError):
    """invalid value"""

    code = 202


class ServerNotResponsible(HandleError):
    """server not responsible for this prefix"""

    code = 301


class ServerBackup(HandleError):
    """this node is a read-only replica: send writes to its primary"""

    code = 302


class PrefixReferral(HandleError):
    """prefix is served elsewhere"""

    code = 303


class InvalidAdmin(HandleError):
    """invalid admin"""

    code = 400


class InsufficientPermissions(HandleError):
    """insufficient permissions"""

    code = 401


class AuthenticationNeeded(HandleError):
    """authentication needed"""

    code = 402


class AuthenticationFailed(HandleError):
    """authentication failed"""

    code = 403


BY_CODE: dict[int, type[HandleError]] = {
    cls.code: cls
    for cls in (
        ServerError,
        ServerBusy,
        ProtocolError,
        OperationNotSupported,
        RecursionTooDeep,
        HandleNotFound,
        HandleAlreadyExists,
        InvalidHandle,
        ValuesNotFound,
        ValueAlreadyExists,
        InvalidValue,
        ServerNotResponsible,
        ServerBackup,
        PrefixReferral,
        InvalidAdmin,
        InsufficientPermissions,
        AuthenticationNeeded,
        AuthenticationFailed,
    )
}


def from_code(code: int, message: str = "", handle: str = "") -> HandleError:
    """Rebuild the typed error for a Handle response code (clients use this)."""
    return BY_CODE.get(code, HandleError)(message or None, handle=handle)


class StoreError(Exception):
    """the store cannot be used"""


class StoreLocked(StoreError):
    """the data folder is in use by another node"""


class SchemaMismatch(StoreError):
    """the data folder was written by an incompatible version of idnode"""
