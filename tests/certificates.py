"""Test certificates made with `cryptography`: CAs (ECDSA P-256) and signers' certificates for HS_CERT tests."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    subject: str,
    public_key,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    own_key: ec.EllipticCurvePrivateKey | None = None,
    not_before: datetime.datetime = NOW - DAY,
    not_after: datetime.datetime = NOW + 30 * DAY,
) -> x509.Certificate:
    """A certificate of ``public_key`` for ``subject``, signed by ``issuer`` (cert, key), or self-signed
    with ``own_key`` when ``issuer`` is None; a CA (basic constraints, cert signing) or a signer's
    (digital signatures only)."""
    issuer_name = issuer[0].subject if issuer else _name(subject)
    signing_key = issuer[1] if issuer else own_key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_key_usage(signer=not ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False)
    )
    return builder.sign(signing_key, hashes.SHA256())


def make_ca(
    subject: str, parent: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new CA (self-signed root, or an intermediate under ``parent``) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    return issue(subject, key.public_key(), parent, ca=True, own_key=key, not_after=NOW + 365 * DAY), key


def pem(*certificates: x509.Certificate) -> bytes:
    """The certificates as one PEM bundle, in order."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
