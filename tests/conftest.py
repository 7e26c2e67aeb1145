"""Shared fixtures: a real store, writer and registry in a temporary folder."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile("long", max_examples=20000, deadline=None)
# The long fuzzing run (tests/README.md, "Fuzzing"): random, many examples per target, no time limit per example.
settings.register_profile(
    "fuzz", max_examples=10000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def registry_factory(tmp_path):
    """Open (and reopen) a registry on one temporary data folder."""
    from idnode.registry.service import Registry
    from idnode.registry.store import Store
    from idnode.registry.writer import Writer

    opened = []

    def open_registry(map_size: int = 1 << 20, node_prefix: str = "88.118", start: bool = True):
        store = Store(tmp_path / "data", map_size=map_size)
        writer = Writer(store)
        registry = Registry(store, writer, node_prefix)
        if start:
            writer.start()
        opened.append((store, writer))
        return registry

    def close_all():
        while opened:
            store, writer = opened.pop()
            writer.stop()
            store.close()

    open_registry.close_all = close_all  # type: ignore[attr-defined]
    yield open_registry
    close_all()


@pytest.fixture
def registry(registry_factory):
    return registry_factory()


def debian_tool(command: str, package: str) -> str:
    """The path of ``command``, installing Debian ``package`` with apt-get when it is missing and we are root.

    When it stays missing the calling test fails under ``CI=true`` (CI must
    prove the real tool works) and is skipped elsewhere, with the command to
    run either way.
    """
    path = shutil.which(command)
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", package]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
        path = shutil.which(command)
    if path is None:
        message = f"{command} not found and not installable here: run `apt-get install -y {package}` as root"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    """``promtool`` from Debian's ``prometheus`` package (alert rules, Prometheus config)."""
    return debian_tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def systemd_analyze() -> str:
    """``systemd-analyze`` from Debian's ``systemd`` package (unit files)."""
    return debian_tool("systemd-analyze", "systemd")


@dataclasses.dataclass(frozen=True)
class Pki:
    """PEM files for TLS tests: a CA, a server certificate for 127.0.0.1 and a client certificate it issued,
    and an unrelated CA (``wrong_ca``) that trusts neither."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    wrong_ca: Path


def _write_pki(folder: Path) -> Pki:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def key_pem(key) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def certificate(name: str, key, issuer_name: x509.Name, issuer_key, *extensions) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(issuer_key, hashes.SHA256())

    def authority(name: str) -> tuple[x509.Certificate, object]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return certificate(name, key, subject, key, (x509.BasicConstraints(ca=True, path_length=None), True)), key

    ca, ca_key = authority("idnode test CA")
    wrong, _ = authority("another CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = certificate(
        "top.test",
        server_key,
        ca.subject,
        ca_key,
        (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = certificate(
        "node 88.118", client_key, ca.subject, ca_key, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    )
    pem = serialization.Encoding.PEM
    files = {
        "ca": ca.public_bytes(pem),
        "server_cert": server.public_bytes(pem),
        "server_key": key_pem(server_key),
        "client_cert": client.public_bytes(pem),
        "client_key": key_pem(client_key),
        "wrong_ca": wrong.public_bytes(pem),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / f"{name}.pem").write_bytes(data)
    return Pki(**{name: folder / f"{name}.pem" for name in files})


@pytest.fixture
def tls_pki(tmp_path) -> Pki:
    """Certificates made for this test (see :class:`Pki`)."""
    return _write_pki(tmp_path / "pki")
