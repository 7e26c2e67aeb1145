"""HTTPS: a node given --tls-cert/--tls-key serves its HTTP front end over TLS only."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

pytestmark = pytest.mark.node


def self_signed(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idnode test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_https_only_when_a_certificate_is_configured(node_factory, tmp_path, workers):
    cert, key = self_signed(tmp_path)
    node = node_factory("--workers", workers, "--tls-cert", cert, "--tls-key", key)
    assert any("HTTP listening" in line and "(https)" in line for line in node.output)
    context = ssl.create_default_context(cafile=cert)
    conn = http.client.HTTPSConnection("127.0.0.1", node.http_port, context=context, timeout=10)
    conn.request("GET", "/healthz")
    reply = conn.getresponse()
    assert reply.status == 200 and json.loads(reply.read()) == {"status": "alive"}
    conn.close()
    plain = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        plain.request("GET", "/healthz")
        plain.getresponse()
    plain.close()


def test_an_unreadable_certificate_stops_the_start(node_factory, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(AssertionError, match="did not start"):
        node_factory("--workers", "1", "--tls-cert", str(bad))
