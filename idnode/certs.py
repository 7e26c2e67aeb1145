"""Development certificates (``idnode certs dev DIR``): a CA, a server certificate for this host and a client one.

For trying TLS on one machine, never for production: the CA's key sits
beside the certificates it signed. The files (PEM):

- ``ca.pem`` / ``ca-key.pem``: the development CA (clients' ``--ca``,
  ``--top-ca``, ``--primary-ca``, ``--peer-ca``; ``idnode topnode serve
  --tls-client-ca``, a primary's ``--replication-client-ca``);
- ``server.pem`` / ``server-key.pem``: for ``localhost``, ``127.0.0.1`` and
  ``::1`` (``idnode serve --tls-cert/--tls-key``: gRPC, HTTP and the
  replication port; ``topnode serve --tls-cert/--tls-key``);
- ``client.pem`` / ``client-key.pem``: a client certificate for every
  mutual-TLS link: to the top node (``--top-cert/--top-key``), a replica to
  its primary (``--primary-cert/--primary-key``), a node to owning nodes
  that require one (``--peer-cert/--peer-key``).

Keys are ECDSA P-256, written with mode 0600.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
from pathlib import Path

__all__ = ["DEV_DAYS", "DevCerts", "write_dev_certs"]

DEV_DAYS = 365
SERVER_NAMES = ("localhost",)
SERVER_ADDRESSES = ("127.0.0.1", "::1")


@dataclasses.dataclass(frozen=True, slots=True)
class DevCerts:
    """The paths :func:`write_dev_certs` wrote."""

    ca: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def write_dev_certs(folder: Path, days: int = DEV_DAYS, client_name: str = "idnode dev client") -> DevCerts:
    """Generate a development CA and the server and client certificates it signs into ``folder``.

    Existing files of the same names are replaced (a new CA each time).

    Raises:
        OSError: ``folder`` cannot be created or written.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, issuer_key, *extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue(
        "idnode development CA",
        ca_key,
        name("idnode development CA"),
        ca_key,
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    alt_names = [x509.DNSName(n) for n in SERVER_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in SERVER_ADDRESSES]
    server = issue(
        "localhost",
        server_key,
        ca.subject,
        ca_key,
        (x509.SubjectAlternativeName(alt_names), False),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = issue(
        client_name, client_key, ca.subject, ca_key, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    )

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    pem = serialization.Encoding.PEM
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "ca": ("ca.pem", ca.public_bytes(pem), 0o644),
        "ca_key": ("ca-key.pem", key_pem(ca_key), 0o600),
        "server_cert": ("server.pem", server.public_bytes(pem), 0o644),
        "server_key": ("server-key.pem", key_pem(server_key), 0o600),
        "client_cert": ("client.pem", client.public_bytes(pem), 0o644),
        "client_key": ("client-key.pem", key_pem(client_key), 0o600),
    }
    paths = {}
    for field, (filename, data, mode) in files.items():
        path = folder / filename
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        paths[field] = path
    return DevCerts(**paths)
