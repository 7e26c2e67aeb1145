"""Unit tests of the Handle error -> gRPC status table and the status details."""

from __future__ import annotations

import inspect
import logging

import grpc
import pytest
from google.rpc import status_pb2
from grpc_status import rpc_status

from idnode.proto import common_pb2
from idnode.registry import errors
from idnode.resolver.grpc import status
from idnode.resolver.grpc.status import (
    GRPC_CODES,
    INTERNAL_MESSAGE,
    grpc_code,
    handle_error_from_rpc,
    to_status,
)

S = grpc.StatusCode
EXPECTED = {
    errors.HandleError: S.INTERNAL,
    errors.ServerError: S.INTERNAL,
    errors.ServerBusy: S.RESOURCE_EXHAUSTED,
    errors.StorageFull: S.RESOURCE_EXHAUSTED,  # a full store (map cap or disk); HTTP 507
    errors.ProtocolError: S.INVALID_ARGUMENT,
    errors.OperationNotSupported: S.UNIMPLEMENTED,
    errors.RecursionTooDeep: S.INTERNAL,  # code 6 is not in the table
    errors.HandleNotFound: S.NOT_FOUND,
    errors.HandleDeleted: S.NOT_FOUND,
    errors.HandleAlreadyExists: S.ALREADY_EXISTS,
    errors.InvalidHandle: S.INVALID_ARGUMENT,
    errors.ValuesNotFound: S.NOT_FOUND,
    errors.ValueAlreadyExists: S.ALREADY_EXISTS,
    errors.InvalidValue: S.INVALID_ARGUMENT,
    errors.ServerNotResponsible: S.FAILED_PRECONDITION,
    errors.ServerBackup: S.FAILED_PRECONDITION,  # a write to a read replica
    errors.PrefixReferral: S.FAILED_PRECONDITION,
    errors.InvalidAdmin: S.PERMISSION_DENIED,
    errors.InsufficientPermissions: S.PERMISSION_DENIED,
    errors.AuthenticationNeeded: S.UNAUTHENTICATED,
    errors.AuthenticationFailed: S.UNAUTHENTICATED,
}


def all_handle_errors():
    return sorted(
        (cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.HandleError)),
        key=lambda cls: cls.__name__,
    )


def test_every_handle_error_is_in_the_expected_table():
    assert set(all_handle_errors()) == set(EXPECTED)


@pytest.mark.parametrize("cls", all_handle_errors(), ids=lambda cls: cls.__name__)
def test_mapping(cls):
    error = cls(handle="88.118.8/X")
    assert grpc_code(error) == EXPECTED[cls]
    st = to_status(error)
    assert st.code == EXPECTED[cls]
    assert st.details == error.message


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (2, S.INTERNAL),
        (3, S.RESOURCE_EXHAUSTED),
        (4, S.INVALID_ARGUMENT),
        (5, S.UNIMPLEMENTED),
        (100, S.NOT_FOUND),
        (101, S.ALREADY_EXISTS),
        (102, S.INVALID_ARGUMENT),
        (200, S.NOT_FOUND),
        (201, S.ALREADY_EXISTS),
        (202, S.INVALID_ARGUMENT),
        (301, S.FAILED_PRECONDITION),
        (302, S.FAILED_PRECONDITION),
        (303, S.FAILED_PRECONDITION),
        (400, S.PERMISSION_DENIED),
        (401, S.PERMISSION_DENIED),
        (402, S.UNAUTHENTICATED),
        (403, S.UNAUTHENTICATED),
        (6, S.INTERNAL),
        (999, S.INTERNAL),
    ],
)
def test_table_by_code(code, expected):
    assert GRPC_CODES.get(code, S.INTERNAL) == expected


def rich(st: grpc.Status) -> status_pb2.Status:
    ((key, value),) = st.trailing_metadata
    assert key == rpc_status.GRPC_DETAILS_METADATA_KEY
    return status_pb2.Status.FromString(value)


class FakeRpcError(grpc.RpcError):
    """What a client sees: the status's trailing metadata on a failed call."""

    def __init__(self, st: grpc.Status | None) -> None:
        self._metadata = st.trailing_metadata if st else ()

    def trailing_metadata(self):
        return self._metadata


def test_details_carry_the_handle_error_and_round_trip():
    error = errors.HandleNotFound("handle 88.118.8/X not found", handle="88.118.8/X")
    st = to_status(error)
    msg = rich(st)
    assert msg.code == S.NOT_FOUND.value[0]
    assert msg.message == "handle 88.118.8/X not found"
    (detail,) = msg.details
    he = common_pb2.HandleError()
    assert detail.Unpack(he)
    expected = (100, "handle 88.118.8/X not found", "88.118.8/X")
    assert (he.response_code, he.message, he.handle) == expected

    back = handle_error_from_rpc(FakeRpcError(st))
    assert type(back) is errors.HandleNotFound
    assert (back.code, back.message, back.handle) == expected


def test_non_ascii_message_round_trips():
    error = errors.InvalidValue("值 2 (productName): 太长", handle="88.118.8/电机")
    back = handle_error_from_rpc(FakeRpcError(to_status(error)))
    assert type(back) is errors.InvalidValue
    assert (back.message, back.handle) == (error.message, error.handle)


def test_handle_error_from_rpc_without_details():
    assert handle_error_from_rpc(FakeRpcError(None)) is None


def test_unexpected_exception_is_internal_logged_once_and_not_leaked(caplog):
    with caplog.at_level(logging.ERROR, logger=status.__name__):
        try:
            raise KeyError("secret internals /var/lib/idnode")
        except KeyError as exc:
            st = to_status(exc)
    assert st.code == S.INTERNAL
    assert st.details == INTERNAL_MESSAGE
    msg = rich(st)
    he = common_pb2.HandleError()
    msg.details[0].Unpack(he)
    assert (he.response_code, he.message, he.handle) == (2, INTERNAL_MESSAGE, "")
    assert "secret" not in str(msg)
    records = [r for r in caplog.records if r.name == status.__name__]
    assert len(records) == 1
    assert records[0].exc_info and records[0].exc_info[0] is KeyError


def test_handle_errors_are_not_logged(caplog):
    with caplog.at_level(logging.DEBUG, logger=status.__name__):
        to_status(errors.HandleNotFound())
    assert not caplog.records
