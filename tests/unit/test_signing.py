"""Signed values: sign/verify round trips, every tampering case, and a Hypothesis property."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.registry import signing
from idnode.registry.errors import InvalidValue
from idnode.registry.signing import Status
from idnode.registry.values import AdminData, Reference, Value

HANDLE = "88.118.8/X"
NOW = 1_800_000_000


def record(key) -> list[Value]:
    return [
        Value(1, "URL", b"https://example.com/x"),
        Value(2, "EMAIL", b"ops@example.com", ttl=3600),
        Value(3, "BLOB", bytes(range(40)), format="base64"),
        Value(100, "HS_ADMIN", AdminData("0.NA/88.118", 200), format="admin"),
        signing.pubkey_value(key),
    ]


def signed(algorithm="EdDSA", **kwargs):
    key = signing.generate_key(algorithm)
    values = record(key)
    sig = signing.sign_values(HANDLE, values, key, Reference(HANDLE, signing.PUBKEY_INDEX), now=NOW, **kwargs)
    return key, [*values, sig]


@pytest.mark.parametrize("algorithm", signing.ALGORITHMS)
def test_round_trip_is_valid_and_the_jwt_lists_each_digest(algorithm):
    _, values = signed(algorithm)
    verdict = signing.verify(HANDLE, values, now=NOW)
    assert verdict.status is Status.VALID, verdict.message
    assert verdict.ok
    sig = values[-1]
    assert (sig.index, sig.type, sig.format) == (400, "HS_SIGNATURE", "base64")
    header, payload, _ = sig.data.split(b".")
    payload_doc = json.loads(signing._unb64url(payload.decode()))
    assert payload_doc["sub"] == HANDLE and payload_doc["iss"] == f"300:{HANDLE}"
    assert [d["index"] for d in payload_doc["digests"]["digests"]] == [1, 2, 3, 100, 300]
    assert payload_doc["digests"]["digests"][0]["digest"] == signing.digest(values[0])
    assert json.loads(signing._unb64url(header.decode()))["alg"] == algorithm


def test_digest_ignores_the_timestamp_only():
    value = Value(1, "URL", b"https://example.com/x")
    assert signing.digest(value) == signing.digest(dataclasses.replace(value, timestamp=12345))
    for changed in (
        dataclasses.replace(value, data=b"https://example.com/y"),
        dataclasses.replace(value, type="URL2"),
        dataclasses.replace(value, ttl=1),
        dataclasses.replace(value, permissions=0b1111),
        dataclasses.replace(value, references=(Reference("88.118.8/Y", 1),)),
    ):
        assert signing.digest(changed) != signing.digest(value)


def test_unsigned_record_passes_as_unsigned():
    key = signing.generate_key()
    verdict = signing.verify(HANDLE, record(key), now=NOW)
    assert verdict.status is Status.UNSIGNED and verdict.ok


@pytest.mark.parametrize(
    ("tamper", "status", "changed", "words"),
    [
        (lambda v: [dataclasses.replace(v[0], data=b"https://evil.example/")] + v[1:], Status.CHANGED, (1,), "value 1"),
        (lambda v: v[1:], Status.CHANGED, (1,), "signed value 1 is missing"),
        (
            lambda v: [*v, Value(7, "URL", b"https://evil.example/")],
            Status.CHANGED,
            (7,),
            "value 7 (URL) is not signed",
        ),
        (
            lambda v: [dataclasses.replace(v[1], permissions=0b1100)] + v[:1] + v[2:],
            Status.CHANGED,
            (2,),
            "no longer publicly readable",
        ),
    ],
)
def test_each_change_is_named(tamper, status, changed, words):
    _, values = signed()
    verdict = signing.verify(HANDLE, tamper(values), now=NOW)
    assert verdict.status is status and not verdict.ok
    assert verdict.changed == changed
    assert words in verdict.message


def test_partial_answer_skips_absent_values_but_not_changed_ones():
    _, values = signed()
    sig, pub = values[-1], values[-2]
    assert signing.verify(HANDLE, [values[0], pub, sig], now=NOW, partial=True).status is Status.VALID
    assert signing.verify(HANDLE, [values[0], pub, sig], now=NOW).status is Status.CHANGED
    bad = dataclasses.replace(values[0], data=b"x")
    assert signing.verify(HANDLE, [bad, pub, sig], now=NOW, partial=True).status is Status.CHANGED


def test_a_replaced_key_or_a_forged_signature_is_a_bad_signature():
    _, values = signed()
    other = signing.generate_key()
    swapped = [*values[:-2], signing.pubkey_value(other), values[-1]]
    verdict = signing.verify(HANDLE, swapped, now=NOW)
    assert verdict.status is Status.BAD_SIGNATURE and "does not verify" in verdict.message
    head, payload, sig = values[-1].data.split(b".")
    flipped = bytearray(signing._unb64url(sig.decode()))
    flipped[0] ^= 1
    forged = dataclasses.replace(values[-1], data=head + b"." + payload + b"." + signing._b64url(flipped).encode())
    assert signing.verify(HANDLE, [*values[:-1], forged], now=NOW).status is Status.BAD_SIGNATURE


def test_a_signature_moved_to_another_handle_is_bad():
    _, values = signed()
    verdict = signing.verify("88.118.8/Y", values, key=values[-2], now=NOW)
    assert verdict.status is Status.BAD_SIGNATURE and "not 88.118.8/Y" in verdict.message


@pytest.mark.parametrize("data", [b"x", b"a.b", b"!!.??.##", b"e30.e30.AA", b"bm90IGpzb24.e30.AA"])
def test_malformed_jwt_is_a_bad_signature(data):
    key = signing.generate_key()
    values = [*record(key), Value(400, "HS_SIGNATURE", data, format="base64")]
    verdict = signing.verify(HANDLE, values, now=NOW)
    assert verdict.status is Status.BAD_SIGNATURE
    assert signing.key_reference(values) is None


def test_unknown_key():
    key = signing.generate_key()
    sig = signing.sign_values(HANDLE, record(key), key, Reference("88.118.8/keys", 300), now=NOW)
    values = [*record(key), sig]
    assert signing.key_reference(values) == Reference("88.118.8/keys", 300)
    verdict = signing.verify(HANDLE, values, now=NOW)
    assert verdict.status is Status.UNKNOWN_KEY and "300:88.118.8/keys" in verdict.message
    not_a_key = Value(300, "HS_PUBKEY", b"not json")
    assert signing.verify(HANDLE, values, key=not_a_key, now=NOW).status is Status.UNKNOWN_KEY
    wrong_index = dataclasses.replace(signing.pubkey_value(key), index=301)
    assert signing.verify(HANDLE, values, key=wrong_index, now=NOW).status is Status.UNKNOWN_KEY
    # the key from the other handle, fetched by the caller: valid
    assert signing.verify(HANDLE, values, key=signing.pubkey_value(key), now=NOW).status is Status.VALID


def test_expired():
    _, values = signed(lifetime=60)
    assert signing.verify(HANDLE, values, now=NOW + 59).status is Status.VALID
    verdict = signing.verify(HANDLE, values, now=NOW + 60)
    assert verdict.status is Status.EXPIRED and str(NOW + 60) in verdict.message


def test_keys_round_trip_through_pem_and_reject_other_kinds():
    from cryptography.hazmat.primitives.asymmetric import ec

    for algorithm in signing.ALGORITHMS:
        key = signing.generate_key(algorithm)
        again = signing.load_private_key(signing.private_pem(key))
        assert signing.public_jwk(again) == signing.public_jwk(key)
        assert len(signing.pubkey_value(key).data) <= 255
    with pytest.raises(InvalidValue, match="only Ed25519 and EC P-256"):
        signing.load_private_key(signing.private_pem(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(InvalidValue, match="cannot read the private key"):
        signing.load_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InvalidValue, match="unknown signature algorithm"):
        signing.generate_key("RS256")


def test_nothing_public_to_sign():
    key = signing.generate_key()
    with pytest.raises(InvalidValue, match="no publicly readable values"):
        signing.sign_values(HANDLE, [Value(1, "URL", b"x", permissions=0b1100)], key, Reference(HANDLE, 300), now=NOW)


_KEY = signing.generate_key()
_VALUES = record(_KEY)
_SIGNED = [*_VALUES, signing.sign_values(HANDLE, _VALUES, _KEY, Reference(HANDLE, signing.PUBKEY_INDEX), now=NOW)]

_changes = st.one_of(
    st.builds(lambda b: {"data": b}, st.binary(max_size=40)),
    st.builds(
        lambda t: {"type": t}, st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8)
    ),
    st.builds(lambda t: {"ttl": t}, st.integers(0, 2**32 - 1)),
    st.builds(lambda p: {"permissions": p}, st.integers(0, 15)),
    st.builds(lambda i: {"index": i}, st.integers(1, 1000)),
)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, len(_VALUES) - 1), change=_changes)
def test_any_change_to_any_signed_value_breaks_verification(position, change):
    original = _SIGNED[position]
    if "data" in change and original.format not in ("string", "base64"):
        change = {"ttl": (original.ttl + 1) % 2**32}
    if "data" in change and original.format == "string":
        change = {"data": change["data"].hex().encode()[:200]}
    if "type" in change and original.type in ("HS_ADMIN", "HS_PUBKEY"):
        change = {"ttl": (original.ttl + 7) % 2**32}
    if "index" in change and change["index"] in {v.index for v in _SIGNED}:
        change = {"index": 999}
    try:
        tampered = dataclasses.replace(original, **change)
    except InvalidValue:
        return  # not a value at all: nothing to resolve
    values = list(_SIGNED)
    values[position] = tampered
    verdict = signing.verify(HANDLE, values, now=NOW)
    if tampered == original:
        assert verdict.status is Status.VALID
    else:
        assert verdict.status in (Status.CHANGED, Status.UNKNOWN_KEY, Status.BAD_SIGNATURE), verdict
        assert not verdict.ok


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
_json = st.recursive(
    _json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)
_payloads = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.one_of(st.just(f"300:{HANDLE}"), st.text(max_size=20)),
        "sub": st.one_of(st.just(HANDLE), _json),
        "exp": _json,
        "nbf": _json,
        "digests": st.one_of(
            _json,
            st.fixed_dictionaries(
                {
                    "alg": st.just("SHA-256"),
                    "digests": st.lists(st.dictionaries(st.sampled_from(["index", "digest"]), _json)),
                }
            ),
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    header=st.one_of(_json, st.fixed_dictionaries({"alg": st.sampled_from(["EdDSA", "ES256", "none", "HS256"])})),
    payload=st.one_of(_json, _payloads),
    sig=st.binary(max_size=80),
    raw=st.binary(max_size=200),
)
def test_verify_never_raises_on_hostile_signatures(header, payload, sig, raw):
    """Whatever an owner stores in HS_SIGNATURE, verification answers with a verdict, never an exception."""
    encode = lambda obj: signing._b64url(json.dumps(obj).encode()).encode()  # noqa: E731
    for data in (raw, encode(header) + b"." + encode(payload) + b"." + signing._b64url(sig).encode()):
        values = [*_VALUES, Value(400, "HS_SIGNATURE", data, format="base64")]
        verdict = signing.verify(HANDLE, values, now=NOW)
        assert verdict.status in (Status.BAD_SIGNATURE, Status.UNKNOWN_KEY), verdict
        signing.key_reference(values)  # None or a Reference, never an exception


def test_deeply_nested_jwt_is_a_bad_signature():
    deep = signing._b64url(b"[" * 50000 + b"]" * 50000).encode()
    values = [*_VALUES, Value(400, "HS_SIGNATURE", b"e30." + deep[:60000] + b".AA", format="base64")]
    assert signing.verify(HANDLE, values, now=NOW).status is Status.BAD_SIGNATURE
