"""Signed values with keys in HS_CERT: certificates made with `cryptography` in the test (valid, expired,
not yet valid, wrong CA, through an intermediate, a CA posing as a signer, a tampered value)."""

from __future__ import annotations

import dataclasses

import pytest

from idnode.registry import signing
from idnode.registry.errors import InvalidValue
from idnode.registry.signing import Status
from idnode.registry.values import Reference, Value
from idnode.settings import ConfigError, load_settings
from tests.certificates import DAY, NOW, issue, make_ca, pem

HANDLE = "88.118.8/C"
WHEN = NOW.timestamp()


@pytest.fixture(scope="module")
def root():
    return make_ca("idnode test root CA")


@pytest.fixture(scope="module")
def other_root():
    return make_ca("some other CA")


def signed_with_cert(issuer, algorithm="EdDSA", **dates):
    """A record signed by a new key whose HS_CERT (at 401, in the record) ``issuer`` certifies."""
    key = signing.generate_key(algorithm)
    cert = issue("88.118.8 signer", key.public_key(), issuer, ca=False, **dates)
    values = [
        Value(1, "URL", b"https://example.com/c"),
        Value(2, "productName", b"motor"),
        signing.cert_value(pem(cert)),
    ]
    sig = signing.sign_values(HANDLE, values, key, Reference(HANDLE, signing.CERT_INDEX), now=int(WHEN))
    return key, [*values, sig]


@pytest.mark.parametrize("algorithm", signing.ALGORITHMS)
def test_valid_certificate_chaining_to_the_trusted_ca(root, algorithm):
    _, values = signed_with_cert(root, algorithm)
    assert values[2].type == "HS_CERT" and values[2].format == "base64"
    for trust in (signing.TrustAnchors((root[0],)), None):  # with a CA, and its validity period alone
        verdict = signing.verify(HANDLE, values, now=WHEN, trust=trust)
        assert verdict.status is Status.VALID, verdict.message
        assert f"signed by CN=88.118.8 signer (certificate 401:{HANDLE}) ({algorithm})" in verdict.message
        assert verdict.expires == pytest.approx((NOW + 30 * DAY).timestamp())  # no later than the certificate


def test_expired_and_not_yet_valid_certificates_are_not_trusted(root):
    trust = signing.TrustAnchors((root[0],))
    _, expired = signed_with_cert(root, not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    _, early = signed_with_cert(root, not_before=NOW + DAY, not_after=NOW + 30 * DAY)
    for values, words in ((expired, "expired at"), (early, "is not valid before")):
        for anchors in (trust, None):  # the validity period is checked with or without a CA
            verdict = signing.verify(HANDLE, values, now=WHEN, trust=anchors)
            assert verdict.status is Status.UNTRUSTED and not verdict.ok
            assert verdict.message.startswith("signature not trusted: the certificate of CN=88.118.8 signer ")
            assert words in verdict.message


def test_certificate_of_another_ca_is_not_trusted(root, other_root):
    _, values = signed_with_cert(other_root)
    verdict = signing.verify(HANDLE, values, now=WHEN, trust=signing.TrustAnchors((root[0],), "--signer-ca ca.pem"))
    assert verdict.status is Status.UNTRUSTED
    assert "does not chain to --signer-ca ca.pem" in verdict.message
    assert signing.verify(HANDLE, values, now=WHEN).status is Status.VALID  # no CA asked for: integrity only


def test_chain_through_an_intermediate_in_the_value(root):
    intermediate = make_ca("idnode test issuing CA", root)
    key = signing.generate_key("ES256")
    leaf = issue("88.118.8 signer", key.public_key(), intermediate, ca=False)
    trust = signing.TrustAnchors((root[0],))
    for bundle, status in ((pem(leaf, intermediate[0]), Status.VALID), (pem(leaf), Status.UNTRUSTED)):
        values = [Value(1, "URL", b"https://example.com/c"), signing.cert_value(bundle)]
        sig = signing.sign_values(HANDLE, values, key, Reference(HANDLE, signing.CERT_INDEX), now=int(WHEN))
        verdict = signing.verify(HANDLE, [*values, sig], now=WHEN, trust=trust)
        assert verdict.status is status, verdict.message  # without the intermediate no chain is found


def test_a_ca_certificate_is_no_signer_certificate(root):
    key = signing.generate_key("ES256")
    posing = issue("88.118.8 signer", key.public_key(), root, ca=True)
    values = [Value(1, "URL", b"https://example.com/c"), signing.cert_value(pem(posing))]
    sig = signing.sign_values(HANDLE, values, key, Reference(HANDLE, signing.CERT_INDEX), now=int(WHEN))
    verdict = signing.verify(HANDLE, [*values, sig], now=WHEN)
    assert verdict.status is Status.UNTRUSTED and "is a CA certificate" in verdict.message


def test_tampered_value_is_changed_and_a_certificate_of_another_key_is_a_bad_signature(root):
    trust = signing.TrustAnchors((root[0],))
    _, values = signed_with_cert(root)
    tampered = [dataclasses.replace(values[0], data=b"https://evil.example/"), *values[1:]]
    verdict = signing.verify(HANDLE, tampered, now=WHEN, trust=trust)
    assert verdict.status is Status.CHANGED and verdict.changed == (1,)
    _, others = signed_with_cert(root)
    swapped = [*values[:2], others[2], values[3]]  # a valid certificate, of someone else's key
    verdict = signing.verify(HANDLE, swapped, now=WHEN, trust=trust)
    assert verdict.status is Status.BAD_SIGNATURE and "does not verify" in verdict.message


def test_bare_pubkey_is_not_trusted_when_a_ca_is_required(root):
    key = signing.generate_key()
    values = [Value(1, "URL", b"https://example.com/c"), signing.pubkey_value(key)]
    sig = signing.sign_values(HANDLE, values, key, Reference(HANDLE, signing.PUBKEY_INDEX), now=int(WHEN))
    assert signing.verify(HANDLE, [*values, sig], now=WHEN).status is Status.VALID
    verdict = signing.verify(HANDLE, [*values, sig], now=WHEN, trust=signing.TrustAnchors((root[0],)))
    assert verdict.status is Status.UNTRUSTED and "is a bare HS_PUBKEY" in verdict.message


def test_unusable_certificate_values(root):
    key = signing.generate_key()
    ref = Reference(HANDLE, signing.CERT_INDEX)
    for garbage in (b"not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"):
        values = [Value(1, "URL", b"https://example.com/c"), Value(401, "HS_CERT", garbage, format="base64")]
        sig = signing.sign_values(HANDLE, values, key, ref, now=int(WHEN))
        verdict = signing.verify(HANDLE, [*values, sig], now=WHEN)
        assert verdict.status is Status.UNKNOWN_KEY and "not a usable HS_PUBKEY or HS_CERT" in verdict.message
    with pytest.raises(InvalidValue, match="not a PEM certificate"):
        signing.cert_value(b"garbage")
    assert signing.holds_key(signing.cert_value(pem(root[0])), root[1])  # the certificate is of this key
    assert not signing.holds_key(signing.cert_value(pem(root[0])), key)


def test_signer_ca_setting_is_read_and_checked_at_start(tmp_path, root):
    good = tmp_path / "ca.pem"
    good.write_bytes(pem(root[0]))
    assert load_settings({"signer_ca": str(good)}, env={}).signer_ca == good
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="signer_ca from --signer-ca: .*not PEM certificates"):
        load_settings({"signer_ca": str(bad)}, env={})
    with pytest.raises(ConfigError, match="signer_ca from IDNODE_SIGNER_CA: cannot read"):
        load_settings(env={"IDNODE_SIGNER_CA": str(tmp_path / "missing.pem")})
