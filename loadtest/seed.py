"""``idnode loadtest seed``: load generated identifiers into a running node and write the load test's key file.

Everything goes through the node's normal write path over gRPC, as an
operator would do it: the demo enterprise (as ``idnode serve --demo`` and
the benchmark set it up) gets the seed prefix and the demo template, a
second enterprise gets the registration user's own prefix, the same
template and an API token, and the items of :mod:`idnode.loadtest.datagen`
go in through :func:`idnode.importer.run_import` (BatchCreate, several
calls in flight). Creates are idempotent, so seeding again with the same
count changes nothing; a larger count adds the missing items.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from idnode.client import ClientError, call, connect
from idnode.importer import ImportItem, ImportSummary, run_import
from idnode.loadtest import datagen
from idnode.loadtest.keyfile import KeyFile, Registration, write_keys

__all__ = ["DEFAULT_REG_PREFIX", "LOADTEST_CREDIT_CODE", "SeedResult", "seed"]

DEFAULT_REG_PREFIX = "88.118.99"
_LOADTEST_HEAD = "91440300MA5LT0001"
_LOADTEST_NAME, _LOADTEST_CONTACT = "Load Test Registrations Co.", "ops@loadtest.example"
_DEMO_NAME, _DEMO_CONTACT = "Demo Manufacturing Co., Ltd.", "ops@demo.example"


def _credit_code(head: str) -> str:
    from idnode.registry.uscc import check_character

    return head + check_character(head)


LOADTEST_CREDIT_CODE = _credit_code(_LOADTEST_HEAD)


@dataclasses.dataclass(frozen=True, slots=True)
class SeedResult:
    """What seeding did: the import summary and the key file written."""

    summary: ImportSummary
    keys: KeyFile


def _setup_enterprise(registry: Any, admin: str, target: str, enterprise: tuple[str, str, str], prefix: str) -> None:
    """Enterprise registered and approved, ``prefix`` allocated to it, the demo template on it (all idempotent)."""
    from idnode.demo import demo_template
    from idnode.proto import registry_pb2
    from idnode.resolver.grpc.registry_service import template_to_pb

    def admin_call(method: Any, request: Any) -> Any:
        return call(method, request, admin, target=target)

    code, name, contact = enterprise
    admin_call(registry.AddEnterprise, registry_pb2.Enterprise(credit_code=code, name=name, contact=contact))
    admin_call(
        registry.SetEnterpriseStatus,
        registry_pb2.SetEnterpriseStatusRequest(credit_code=code, status=registry_pb2.ENTERPRISE_STATUS_APPROVED),
    )
    allocated = admin_call(registry.AllocatePrefix, registry_pb2.AllocatePrefixRequest(credit_code=code, prefix=prefix))
    if allocated.status != registry_pb2.PREFIX_STATUS_APPROVED:
        raise ClientError(
            401, f"prefix {prefix} is pending approval by the top-level node; approve it there and seed again"
        )
    admin_call(registry.PutTemplate, template_to_pb(demo_template(prefix)))


def seed(
    target: str,
    admin_token: str | None,
    count: int,
    keys_path: str | os.PathLike[str],
    *,
    prefix: str = datagen.DEFAULT_PREFIX,
    reg_prefix: str = DEFAULT_REG_PREFIX,
    data_seed: int = datagen.DEFAULT_SEED,
    batch_size: int = 1000,
    in_flight: int = 4,
    progress: Callable[[ImportSummary], None] | None = None,
) -> SeedResult:
    """Seed ``count`` generated identifiers under ``prefix`` on the node at ``target``; write ``keys_path``.

    Args:
        target: the node's gRPC address.
        admin_token: a node-admin credential (enterprises, prefixes, tokens).
        count: identifiers to load (items ``0 .. count - 1`` of ``data_seed``).
        keys_path: the key file to write (JSON, mode 0600: it holds a token).
        prefix: the prefix of the resolved identifiers (the demo enterprise's).
        reg_prefix: the registration user's own prefix (a load-test enterprise's).
        data_seed: the data generator's seed.
        batch_size, in_flight: BatchCreate size and calls outstanding.
        progress: called with the running import summary.

    Returns:
        The import summary and the key file; the file is written only when
        nothing was rejected (``summary.rejected`` empty).

    Raises:
        ClientError: a setup call or the import failed as a whole (the
            credential is not the node admin's, the node is unreachable, a
            prefix belongs to another enterprise or awaits the top-level node).
        ValueError: ``count`` below 1 or ``prefix == reg_prefix``.
    """
    from idnode.demo import DEMO_CREDIT_CODE
    from idnode.proto import registry_pb2, registry_pb2_grpc

    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if prefix == reg_prefix:
        raise ValueError("the registration prefix must differ from the seed prefix")
    admin = admin_token or ""
    channel = connect(target)
    try:
        registry = registry_pb2_grpc.RegistryStub(channel)
        # The demo enterprise with the name and contact `serve --demo` gives it, so both agree.
        _setup_enterprise(registry, admin, target, (DEMO_CREDIT_CODE, _DEMO_NAME, _DEMO_CONTACT), prefix)
        _setup_enterprise(
            registry, admin, target, (LOADTEST_CREDIT_CODE, _LOADTEST_NAME, _LOADTEST_CONTACT), reg_prefix
        )
        issued = call(
            registry.CreateToken,
            registry_pb2.CreateTokenRequest(role="enterprise", credit_code=LOADTEST_CREDIT_CODE, label="loadtest"),
            admin_token,
            target=target,
        )
        items = (
            ImportItem(n + 1, write.handle, datagen.to_pb(write), "")
            for n, write in enumerate(datagen.generate(count, prefix, data_seed))
        )
        summary = run_import(registry, items, admin_token, batch_size, in_flight, progress, target=target)
    finally:
        channel.close()
    keys = KeyFile(
        handles=tuple(datagen.handle_of(n, prefix, data_seed) for n in range(count)),
        prefix=prefix,
        seed=data_seed,
        count=count,
        registration=Registration(reg_prefix, issued.token, LOADTEST_CREDIT_CODE),
    )
    if not summary.rejected:
        write_keys(keys_path, keys)
    return SeedResult(summary, keys)
