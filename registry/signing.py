"""Signed values: an ``HS_SIGNATURE`` JWT over the other values' digests, keys in ``HS_PUBKEY`` or ``HS_CERT``.

DOMAIN.md section 5: ``HS_SIGNATURE`` holds a JWT listing per-index digests.
Here it is a compact JWS (``header.payload.signature``, base64url) whose
payload is::

    {"iss": "300:88.118.8/keys", "sub": "88.118.8/X", "iat": 1790000000, "exp": 1800000000,
     "digests": {"alg": "SHA-256", "digests": [{"index": 1, "digest": "<base64url SHA-256>"}, ...]}}

``iss`` (and the header's ``kid``) names the key as ``INDEX:HANDLE``, Handle's
notation; the key is an ``HS_PUBKEY`` value holding a public JWK (Ed25519 or
EC P-256) as a string, or an ``HS_CERT`` value holding an X.509 certificate
(PEM, leaf first, then any intermediates) of such a key: its validity period
is checked, and with :class:`TrustAnchors` it must chain to one of them
(``cryptography.x509.verification``); a certificate that fails either is
:attr:`Status.UNTRUSTED`. ``exp`` is optional. The digest of a value is SHA-256
over its canonical form (:func:`canonical`): its Handle REST JSON without the
timestamp (the writer stamps values, so a signature made before a write still
holds after it), keys sorted, no spaces, UTF-8. Algorithms: ``EdDSA``
(Ed25519) and ``ES256`` (ECDSA P-256 with SHA-256, raw ``r||s``), both from
``cryptography``.

The module is sans-IO: :func:`sign_values` builds the signature value;
:func:`key_reference` says which key a signature names, the caller fetches
it (from the record itself or by resolving the key handle) and
:func:`verify` gives a :class:`Verdict`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import enum
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from idnode.registry.errors import InvalidValue
from idnode.registry.values import PERM_PUBLIC_READ, Reference, Value

__all__ = [
    "ALGORITHMS",
    "CERT_INDEX",
    "CERT_TYPE",
    "PUBKEY_INDEX",
    "PUBKEY_TYPE",
    "SIGNATURE_INDEX",
    "SIGNATURE_TYPE",
    "Status",
    "TrustAnchors",
    "Verdict",
    "canonical",
    "cert_value",
    "digest",
    "generate_key",
    "holds_key",
    "key_reference",
    "load_private_key",
    "parse_key_reference",
    "private_pem",
    "pubkey_value",
    "public_jwk",
    "sign_values",
    "verify",
]

SIGNATURE_TYPE = "HS_SIGNATURE"
PUBKEY_TYPE = "HS_PUBKEY"
CERT_TYPE = "HS_CERT"
SIGNATURE_INDEX = 400
"""Default index of the signature value (DOMAIN.md: HS_CERT and HS_SIGNATURE at 400 and above)."""
PUBKEY_INDEX = 300
"""Default index of a published public key (Handle's convention for HS_PUBKEY)."""
CERT_INDEX = 401
"""Default index of the signer's certificate (``idnode id sign --cert``), beside the signature at 400."""
DIGEST_ALG = "SHA-256"
ALGORITHMS = ("EdDSA", "ES256")
MAX_JWS_BYTES = 65536


class Status(enum.Enum):
    """The outcome of checking a record's signature."""

    VALID = "valid"
    UNSIGNED = "unsigned"  # no HS_SIGNATURE value: passes as before
    CHANGED = "changed"  # a value differs from, is missing from or is not in the signed digests
    UNKNOWN_KEY = "unknown_key"  # the named key is absent or not a usable HS_PUBKEY
    BAD_SIGNATURE = "bad_signature"  # malformed JWT, wrong handle, or the signature does not verify
    EXPIRED = "expired"  # past ``exp`` (or before ``nbf``)
    UNTRUSTED = (
        "untrusted"  # the signature verifies, but its HS_CERT is outside its validity or chains to no trusted CA
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """A :class:`Status`, a message naming what failed, and the indexes that changed."""

    status: Status
    message: str
    changed: tuple[int, ...] = ()
    expires: float | None = None  # a valid signature's ``exp``: the verdict holds until then

    @property
    def ok(self) -> bool:
        """True for a valid signature and for an unsigned record (which passes as before)."""
        return self.status in (Status.VALID, Status.UNSIGNED)


# -- encodings ---------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("not base64url text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical(value: Value) -> bytes:
    """The bytes a value's digest covers: its Handle REST JSON without the timestamp, canonically serialised."""
    doc = value.to_json()
    del doc["timestamp"]
    return _json(doc)


def digest(value: Value) -> str:
    """base64url (unpadded) SHA-256 of :func:`canonical`."""
    return _b64url(hashlib.sha256(canonical(value)).digest())


def parse_key_reference(text: str) -> Reference:
    """``INDEX:HANDLE`` (Handle's notation, as in ``iss``/``kid``) as a Reference.

    Raises:
        InvalidValue: not of that shape.
    """
    index, sep, handle = text.partition(":") if isinstance(text, str) else ("", "", "")
    if not sep or not (index.isascii() and index.isdigit()):
        raise InvalidValue(f"key reference {text!r} is not INDEX:HANDLE")
    return Reference(handle, int(index))


def _key_text(ref: Reference) -> str:
    return f"{ref.index}:{ref.handle}"


# -- keys --------------------------------------------------------------------------

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


def generate_key(algorithm: str = "EdDSA") -> PrivateKey:
    """A new private key: ``EdDSA`` (Ed25519) or ``ES256`` (P-256)."""
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise InvalidValue(f"unknown signature algorithm {algorithm!r}, expected one of {', '.join(ALGORITHMS)}")


def private_pem(key: PrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM (keep the file private: mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(pem: bytes) -> PrivateKey:
    """A PEM private key (Ed25519 or EC P-256, unencrypted).

    Raises:
        InvalidValue: unreadable, encrypted, or another kind of key.
    """
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidValue(f"cannot read the private key: {exc}") from None
    _algorithm(key)
    return key  # type: ignore[return-value]


def _algorithm(key: Any) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise InvalidValue("only Ed25519 and EC P-256 keys are supported")


def public_jwk(key: PrivateKey | PublicKey) -> dict[str, str]:
    """The public JWK (RFC 7517/8037) of a private or public key."""
    public = key.public_key() if hasattr(key, "private_bytes") else key
    if _algorithm(public) == "EdDSA":
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)  # type: ignore[union-attr]
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}
    numbers = public.public_numbers()  # type: ignore[union-attr]
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }


def pubkey_value(key: PrivateKey | PublicKey, index: int = PUBKEY_INDEX) -> Value:
    """The ``HS_PUBKEY`` value to publish: the public JWK as a string."""
    return Value(index, PUBKEY_TYPE, _json(public_jwk(key)))


def _public_key_of(value: Value) -> PublicKey:
    """The public key in an HS_PUBKEY value (a JWK string) or an HS_CERT value (its first certificate's).
    Raises ValueError when it is neither."""
    if value.type == CERT_TYPE:
        public = _certificates(value)[0].public_key()
        try:
            _algorithm(public)
        except InvalidValue as exc:
            raise ValueError(exc.message) from None
        return public  # type: ignore[return-value]
    if value.type != PUBKEY_TYPE or value.format not in ("string", "base64", "hex"):
        raise ValueError(f"value {value.index} is {value.type}, not {PUBKEY_TYPE} or {CERT_TYPE}")
    jwk = json.loads(value.data)  # type: ignore[arg-type]
    if not isinstance(jwk, dict):
        raise ValueError("not a JWK object")
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(_unb64url(jwk["x"]))
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        x, y = (int.from_bytes(_unb64url(jwk[k]), "big") for k in ("x", "y"))
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    raise ValueError(f"unsupported key type {jwk.get('kty')!r}/{jwk.get('crv')!r}")


def holds_key(value: Value, key: PrivateKey | PublicKey) -> bool:
    """True when ``value`` is an HS_PUBKEY publishing ``key``'s public key, or an HS_CERT certifying it."""
    try:
        return public_jwk(_public_key_of(value)) == public_jwk(key)
    except (ValueError, KeyError, TypeError, InvalidValue):
        return False


# -- certificates (HS_CERT) --------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class TrustAnchors:
    """The CA certificates a signer's HS_CERT must chain to (``--trust-ca`` / ``--signer-ca``)."""

    certificates: tuple[x509.Certificate, ...]
    source: str = "the trusted CAs"  # named in verdicts: the file they came from

    @classmethod
    def from_pem(cls, pem: bytes, source: str = "the trusted CAs") -> TrustAnchors:
        """The CA certificates of a PEM bundle.

        Raises:
            InvalidValue: no certificate in it, or one that does not parse.
        """
        try:
            certificates = tuple(x509.load_pem_x509_certificates(pem))
        except ValueError as exc:
            raise InvalidValue(f"{source}: not PEM certificates: {exc}") from None
        return cls(certificates, source)


def _certificates(value: Value) -> list[x509.Certificate]:
    """The certificates of an HS_CERT value (PEM bundle, leaf first; or one DER). Raises ValueError."""
    if value.format not in ("string", "base64", "hex"):
        raise ValueError(f"value {value.index} has {value.format} data")
    data: bytes = value.data  # type: ignore[assignment]
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def cert_value(pem: bytes, index: int = CERT_INDEX) -> Value:
    """The ``HS_CERT`` value to publish: the certificate file's PEM bytes (format base64).

    Raises:
        InvalidValue: not PEM certificates, or the leaf's key is not Ed25519 or EC P-256.
    """
    value = Value(index, CERT_TYPE, pem.strip() + b"\n", format="base64")
    try:
        leaf = _certificates(value)[0]
    except ValueError as exc:
        raise InvalidValue(f"not a PEM certificate: {exc}") from None
    _algorithm(leaf.public_key())
    return value


def _trust(certificates: list[x509.Certificate], now: float, anchors: TrustAnchors | None) -> str | None:
    """Why the certificate chain is not trusted at ``now`` (None: it is), checked in this order:
    the leaf's validity period, its use (not a CA, digital signatures allowed), then, with
    ``anchors``, a chain to one of them."""
    from cryptography.x509 import verification

    leaf = certificates[0]
    at = datetime.datetime.fromtimestamp(now, datetime.UTC)
    subject = leaf.subject.rfc4514_string() or "(no subject)"
    if at < leaf.not_valid_before_utc:
        return f"the certificate of {subject} is not valid before {leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}"
    if at > leaf.not_valid_after_utc:
        return f"the certificate of {subject} expired at {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
    for extension in leaf.extensions:
        if isinstance(extension.value, x509.BasicConstraints) and extension.value.ca:
            return f"the certificate of {subject} is a CA certificate, not a signer's"
        if isinstance(extension.value, x509.KeyUsage) and not extension.value.digital_signature:
            return f"the certificate of {subject} does not allow digital signatures (key usage)"
    if anchors is None:
        return None
    policy = verification.PolicyBuilder().store(verification.Store(list(anchors.certificates))).time(at)
    # CAs as the Web PKI wants them; the signer's certificate needs no host name or extended key usage.
    policy = policy.extension_policies(
        ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
        ee_policy=verification.ExtensionPolicy.permit_all(),
    )
    try:
        policy.build_client_verifier().verify(leaf, certificates[1:])
    except verification.VerificationError as exc:
        return f"the certificate of {subject} does not chain to {anchors.source}: {exc}"
    return None


# -- signing -----------------------------------------------------------------------


def signed_values(values: Iterable[Value]) -> list[Value]:
    """The values a signature covers: every publicly readable value except signatures, by index."""
    return sorted(
        (v for v in values if v.type != SIGNATURE_TYPE and v.permissions & PERM_PUBLIC_READ), key=lambda v: v.index
    )


def sign_values(
    handle: str,
    values: Iterable[Value],
    key: PrivateKey,
    key_ref: Reference,
    *,
    now: int,
    lifetime: int | None = None,
    index: int = SIGNATURE_INDEX,
) -> Value:
    """The ``HS_SIGNATURE`` value (format base64, the JWS bytes) signing ``values`` of ``handle``.

    Args:
        handle: the normalised handle (the JWT's ``sub``).
        values: the record's values; signatures and values without public read are left out.
        key: the private key; ``key_ref`` names where its HS_PUBKEY is published.
        now: seconds since 1970 (``iat``); ``lifetime``: seconds until ``exp`` (None: no expiry).
        index: the index of the signature value.

    Raises:
        InvalidValue: the key is not supported, or nothing to sign.
    """
    algorithm = _algorithm(key)
    covered = signed_values(values)
    if not covered:
        raise InvalidValue(f"{handle} has no publicly readable values to sign", handle=handle)
    payload: dict[str, Any] = {
        "iss": _key_text(key_ref),
        "sub": handle,
        "iat": now,
        "digests": {"alg": DIGEST_ALG, "digests": [{"index": v.index, "digest": digest(v)} for v in covered]},
    }
    if lifetime is not None:
        payload["exp"] = now + lifetime
    header = {"alg": algorithm, "kid": _key_text(key_ref), "typ": "JWT"}
    signing_input = f"{_b64url(_json(header))}.{_b64url(_json(payload))}".encode()
    if algorithm == "EdDSA":
        raw = key.sign(signing_input)  # type: ignore[call-arg]
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))  # type: ignore[call-arg]
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return Value(index, SIGNATURE_TYPE, signing_input + b"." + _b64url(raw).encode(), format="base64")


# -- verification ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Jws:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes
    key_ref: Reference


def _parse(value: Value) -> _Jws:
    """Decode an HS_SIGNATURE value. Raises ValueError naming what is malformed."""
    if value.format not in ("string", "base64", "hex"):
        raise ValueError(f"HS_SIGNATURE at index {value.index} has {value.format} data")
    data: bytes = value.data  # type: ignore[assignment]
    if len(data) > MAX_JWS_BYTES:
        raise ValueError("the JWT is too long")
    parts = data.split(b".")
    if len(parts) != 3:
        raise ValueError("not a compact JWT (header.payload.signature)")
    try:
        header = json.loads(_unb64url(parts[0].decode("ascii")))
        payload = json.loads(_unb64url(parts[1].decode("ascii")))
        signature = _unb64url(parts[2].decode("ascii"))
    except (UnicodeDecodeError, binascii.Error, ValueError, RecursionError) as exc:  # RecursionError: deep nesting
        raise ValueError(f"the JWT does not decode: {type(exc).__name__}") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ValueError("the JWT header and payload must be objects")
    kid = payload.get("iss", header.get("kid"))
    try:
        key_ref = parse_key_reference(kid)
    except InvalidValue as exc:
        raise ValueError(exc.message) from None
    return _Jws(header, payload, parts[0] + b"." + parts[1], signature, key_ref)


def _signature_value(values: Iterable[Value]) -> Value | None:
    found = [v for v in values if v.type == SIGNATURE_TYPE]
    return min(found, key=lambda v: v.index) if found else None


def key_reference(values: Iterable[Value]) -> Reference | None:
    """The key the record's HS_SIGNATURE names (None when unsigned or the signature is malformed)."""
    signature = _signature_value(values)
    if signature is None:
        return None
    try:
        return _parse(signature).key_ref
    except ValueError:
        return None


def _check_signature(jws: _Jws, public: PublicKey) -> bool:
    algorithm = jws.header.get("alg")
    try:
        if algorithm == "EdDSA" and isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(jws.signature, jws.signing_input)
            return True
        if algorithm == "ES256" and isinstance(public, ec.EllipticCurvePublicKey) and len(jws.signature) == 64:
            r, s = int.from_bytes(jws.signature[:32], "big"), int.from_bytes(jws.signature[32:], "big")
            public.verify(encode_dss_signature(r, s), jws.signing_input, ec.ECDSA(hashes.SHA256()))
            return True
    except InvalidSignature:
        return False
    return False


def _signed_digests(payload: dict[str, Any]) -> dict[int, str]:
    block = payload.get("digests")
    if not isinstance(block, dict) or block.get("alg") != DIGEST_ALG or not isinstance(block.get("digests"), list):
        raise ValueError(f"the JWT has no {DIGEST_ALG} digests list")
    out: dict[int, str] = {}
    for entry in block["digests"]:
        index = entry.get("index") if isinstance(entry, dict) else None
        if type(index) is not int or not isinstance(entry.get("digest"), str) or index in out:
            raise ValueError("the JWT digests list is malformed")
        out[index] = entry["digest"]
    return out


def verify(
    handle: str,
    values: Iterable[Value],
    key: Value | None = None,
    *,
    now: float,
    partial: bool = False,
    trust: TrustAnchors | None = None,
) -> Verdict:
    """Check the HS_SIGNATURE of ``handle``'s ``values``.

    Args:
        handle: the normalised handle the values were resolved for (must be the JWT's ``sub``).
        values: the resolved values.
        key: the HS_PUBKEY or HS_CERT value the signature names (see :func:`key_reference`); None
            when it could not be found. A key named inside ``values`` is taken from there when ``key`` is None.
        now: seconds since 1970, for ``exp``/``nbf`` and the certificate's validity.
        partial: the answer was filtered by index or type: signed values absent from it are not a change.
        trust: the CAs a certificate must chain to; with them a bare HS_PUBKEY is not trusted either.
            None: a certificate's validity period is checked, not its issuer.

    Returns:
        A :class:`Verdict`; checks run in this order: malformed JWT or wrong handle (bad_signature),
        key (unknown_key), signature (bad_signature), certificate (untrusted), expiry (expired),
        digests (changed).
    """
    values = tuple(values)
    signature = _signature_value(values)
    if signature is None:
        return Verdict(Status.UNSIGNED, f"{handle} carries no {SIGNATURE_TYPE}")
    try:
        jws = _parse(signature)
        digests = _signed_digests(jws.payload)
    except ValueError as exc:
        return Verdict(Status.BAD_SIGNATURE, f"{SIGNATURE_TYPE} at index {signature.index}: {exc}")
    if jws.payload.get("sub") != handle:
        return Verdict(Status.BAD_SIGNATURE, f"the signature is for {jws.payload.get('sub')!r}, not {handle}")
    ref = jws.key_ref
    if key is None and ref.handle == handle:
        key = next((v for v in values if v.index == ref.index), None)
    if key is None or key.index != ref.index:
        return Verdict(Status.UNKNOWN_KEY, f"key {_key_text(ref)} not found")
    try:
        public = _public_key_of(key)
    except (ValueError, KeyError, TypeError) as exc:
        return Verdict(Status.UNKNOWN_KEY, f"key {_key_text(ref)} is not a usable {PUBKEY_TYPE} or {CERT_TYPE}: {exc}")
    if not _check_signature(jws, public):
        return Verdict(Status.BAD_SIGNATURE, f"the signature does not verify with key {_key_text(ref)}")
    signer, until = _key_text(ref), None
    if key.type == CERT_TYPE:
        certificates = _certificates(key)
        distrust = _trust(certificates, now, trust)
        if distrust is not None:
            return Verdict(Status.UNTRUSTED, f"signature not trusted: {distrust}")
        signer = f"{certificates[0].subject.rfc4514_string()} (certificate {_key_text(ref)})"
        until = certificates[0].not_valid_after_utc.timestamp()
    elif trust is not None:
        return Verdict(
            Status.UNTRUSTED,
            f"signature not trusted: key {_key_text(ref)} is a bare {PUBKEY_TYPE}; {trust.source} "
            f"vouch only for keys in an {CERT_TYPE} certificate",
        )
    exp, nbf = jws.payload.get("exp"), jws.payload.get("nbf")
    if isinstance(exp, int | float) and now >= exp:
        return Verdict(Status.EXPIRED, f"the signature expired at {int(exp)} (now {int(now)})")
    if isinstance(nbf, int | float) and now < nbf:
        return Verdict(Status.EXPIRED, f"the signature is not valid before {int(nbf)} (now {int(now)})")
    problems: list[str] = []
    changed: list[int] = []
    present = {v.index: v for v in values if v.type != SIGNATURE_TYPE}
    for value in signed_values(present.values()):
        expected = digests.get(value.index)
        if expected is None:
            problems.append(f"value {value.index} ({value.type}) is not signed")
        elif expected != digest(value):
            problems.append(f"value {value.index} ({value.type}) differs from the signed digest")
        else:
            continue
        changed.append(value.index)
    for index in sorted(digests):
        if index not in present and not partial:
            problems.append(f"signed value {index} is missing")
            changed.append(index)
        elif index in present and not present[index].permissions & PERM_PUBLIC_READ:
            problems.append(f"signed value {index} is no longer publicly readable")
            changed.append(index)
    if problems:
        return Verdict(Status.CHANGED, "; ".join(problems), tuple(sorted(changed)))
    expires = [t for t in (exp if isinstance(exp, int | float) else None, until) if t is not None]
    return Verdict(
        Status.VALID,
        f"signed by {signer} ({jws.header.get('alg')}), {len(digests)} values",
        expires=float(min(expires)) if expires else None,
    )
