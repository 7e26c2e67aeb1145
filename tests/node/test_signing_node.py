"""Signed values end to end: `idnode keys generate`, `idnode id sign` and `idnode id get --verify` against a
running node; a value changed without re-signing is reported and exits 1."""

from __future__ import annotations

import json

import dns.rcode

from idnode.proto import common_pb2, registry_pb2, resolver_pb2
from idnode.registry import signing

from .conftest import auth, setup_enterprise
from .test_cli_node import idnode
from .test_hierarchy_node import HANDLE, dns_query, hierarchy, http_get  # noqa: F401  (hierarchy: the fixture)


def create(node, token: str, handle: str, url: str) -> None:
    item = registry_pb2.IdentifierWrite(
        handle=handle,
        values=[
            common_pb2.HandleValue(index=1, type="URL", data=url.encode(), ttl=3600),
            common_pb2.HandleValue(index=2, type="productName", data=b"motor", ttl=3600),
        ],
    )
    node.registry().CreateIdentifier(item, metadata=auth(token), timeout=10)


def publish_key(node, token: str, handle: str, key_file, algorithm: str = "EdDSA") -> None:
    printed = idnode(node, "keys", "generate", str(key_file), "--algorithm", algorithm).stdout
    assert json.loads(printed)[0]["type"] == "HS_PUBKEY"
    assert key_file.stat().st_mode & 0o077 == 0
    idnode(node, "id", "update", handle, "--mode", "add", "--values-json", "-", token=token, input=printed)


def verify(node, handle: str, *extra: str):
    proc = idnode(node, "id", "get", handle, "--verify", *extra, check=False)
    return proc.returncode, json.loads(proc.stdout)["signature"] if proc.stdout else None, proc.stderr


def test_sign_verify_and_tamper_on_one_node(node, tmp_path):
    token = setup_enterprise(node, "91350100M000100Y4", "88.118.8")
    create(node, token, "88.118.8/S", "https://example.com/s")
    key = tmp_path / "own.pem"
    publish_key(node, token, "88.118.8/S", key)

    # Unsigned: --verify fails and says so; the plain get is unchanged.
    code, signature, stderr = verify(node, "88.118.8/S")
    assert code == 1 and signature["status"] == "unsigned" and "error: signature unsigned" in stderr

    idnode(node, "id", "sign", "88.118.8/S", "--key", str(key), token=token)
    code, signature, stderr = verify(node, "88.118.8/S")
    assert (code, signature["status"]) == (0, "valid"), stderr
    assert "signed by 300:88.118.8/S (EdDSA)" in signature["message"]
    code, signature, _ = verify(node, "88.118.8/S", "--index", "1")  # a filtered answer: the key comes by resolving
    assert (code, signature["status"]) == (0, "valid")

    # Re-signing replaces the signature at 400 (modify, not a second value).
    idnode(node, "id", "sign", "88.118.8/S", "--key", str(key), "--lifetime", "3600", token=token)
    values = json.loads(idnode(node, "id", "get", "88.118.8/S").stdout)["values"]
    assert [v["index"] for v in values if v["type"] == "HS_SIGNATURE"] == [400]

    # A value changed without re-signing: exit 1, the value named.
    idnode(
        node, "id", "update", "88.118.8/S", "--mode", "modify", "--value", "1:URL:https://evil.example/", token=token
    )
    code, signature, stderr = verify(node, "88.118.8/S")
    assert code == 1 and signature["status"] == "changed"
    assert "value 1 (URL) differs from the signed digest" in stderr

    # A key in another handle (ECDSA P-256), named with --key-handle.
    create(node, token, "88.118.8/KEYS", "https://example.com/keys")
    create(node, token, "88.118.8/T", "https://example.com/t")
    shared = tmp_path / "shared.pem"
    publish_key(node, token, "88.118.8/KEYS", shared, "ES256")
    idnode(node, "id", "sign", "88.118.8/T", "--key", str(shared), "--key-handle", "88.118.8/KEYS:300", token=token)
    code, signature, _ = verify(node, "88.118.8/T")
    assert (code, signature["status"]) == (0, "valid") and "(ES256)" in signature["message"]

    # The key handle now publishes another key: the old signature no longer verifies.
    idnode(node, "id", "update", "88.118.8/KEYS", "--mode", "remove", "--remove-index", "300", token=token)
    publish_key(node, token, "88.118.8/KEYS", tmp_path / "other.pem")
    code, signature, stderr = verify(node, "88.118.8/T")
    assert code == 1 and signature["status"] == "bad_signature" and "does not verify" in stderr

    # Signing with a key that is not the published one is refused and writes nothing.
    before = json.loads(idnode(node, "id", "get", "88.118.8/T").stdout)["values"]
    refused = idnode(
        node, "id", "sign", "88.118.8/T", "--key", str(shared), "--key-handle", "88.118.8/KEYS:300",
        token=token, check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and "does not hold this key's HS_PUBKEY" in refused.stderr
    assert json.loads(idnode(node, "id", "get", "88.118.8/T").stdout)["values"] == before
    # No key published at all: unknown key.
    idnode(node, "id", "update", "88.118.8/KEYS", "--mode", "remove", "--remove-index", "300", token=token)
    code, signature, _ = verify(node, "88.118.8/T")
    assert code == 1 and signature["status"] == "unknown_key"


def test_sign_needs_a_credential_that_may_write(node, tmp_path):
    token = setup_enterprise(node, "91350100M000100Y4", "88.118.8")
    create(node, token, "88.118.8/S", "https://example.com/s")
    key = tmp_path / "k.pem"
    publish_key(node, token, "88.118.8/S", key)
    other = setup_enterprise(node, "91350100M000200Y4", "88.118.9")
    refused = idnode(node, "id", "sign", "88.118.8/S", "--key", str(key), token=other, check=False)
    assert refused.returncode == 1 and "error: " in refused.stderr
    values = json.loads(idnode(node, "id", "get", "88.118.8/S").stdout)["values"]
    assert not [v for v in values if v["type"] == "HS_SIGNATURE"]


def test_sign_on_a_verified_through_b_and_tampering_reported(hierarchy, tmp_path):  # noqa: F811
    """Sign on node A; node B resolves by recursion and checks: X (signed) is valid over gRPC, HTTP and
    the CLI; Y (signed, then changed on A without re-signing) is flagged, SERVFAIL over DNS, exit 1."""
    _, a, b = hierarchy
    key = tmp_path / "a.pem"
    publish_key(a, a.admin_token, HANDLE, key)
    idnode(a, "id", "sign", HANDLE, "--key", str(key))  # A's admin credential from its data folder
    create(a, a.admin_token, "88.118.8/Y", "https://example.com/y")
    published = signing.pubkey_value(signing.load_private_key(key.read_bytes())).to_json()
    idnode(a, "id", "update", "88.118.8/Y", "--mode", "add", "--values-json", "-", input=json.dumps([published]))
    idnode(a, "id", "sign", "88.118.8/Y", "--key", str(key))
    idnode(a, "id", "update", "88.118.8/Y", "--mode", "modify", "--value", "2:productName:pump")

    # X: valid through B (gRPC field, HTTP header, the CLI against B).
    reply = b.resolver().Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10)
    assert (reply.response_code, reply.non_authoritative) == (1, True)
    assert reply.signature == resolver_pb2.SIGNATURE_STATUS_VALID, reply.signature_message
    local = a.resolver().Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10)
    assert local.signature == resolver_pb2.SIGNATURE_STATUS_UNSPECIFIED  # authoritative: not checked by A
    status, headers, _ = http_get(f"{b.http}/api/handles/{HANDLE}")
    assert status == 200 and headers.get("X-Idnode-Signature") == "valid"
    assert "X-Idnode-Signature" not in http_get(f"{a.http}/api/handles/{HANDLE}")[1]
    code, signature, stderr = verify(b, HANDLE)
    assert (code, signature["status"]) == (0, "valid"), stderr
    answer = dns_query(b, HANDLE, tcp=True)  # over UDP the signature's TXT record truncates the answer
    assert answer.rcode() == dns.rcode.NOERROR
    assert any(b"".join(r.strings).startswith(b"400 HS_SIGNATURE ") for rrset in answer.answer for r in rrset)

    # Y: changed at A after signing; B reports it everywhere.
    reply = b.resolver().Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/Y"), timeout=10)
    assert reply.signature == resolver_pb2.SIGNATURE_STATUS_CHANGED
    assert "value 2 (productName) differs from the signed digest" in reply.signature_message
    status, headers, _ = http_get(f"{b.http}/api/handles/88.118.8/Y")
    assert status == 200 and headers.get("X-Idnode-Signature") == "changed"
    assert dns_query(b, "88.118.8/Y").rcode() == dns.rcode.SERVFAIL
    code, signature, stderr = verify(b, "88.118.8/Y")
    assert code == 1 and signature["status"] == "changed" and "value 2 (productName)" in stderr
    batch = b.resolver().BatchResolve(resolver_pb2.BatchResolveRequest(handles=[HANDLE, "88.118.8/Y"]), timeout=10)
    assert [r.signature for r in batch.results] == [
        resolver_pb2.SIGNATURE_STATUS_VALID,
        resolver_pb2.SIGNATURE_STATUS_CHANGED,
    ]
    # An unsigned record passes as before.
    create(a, a.admin_token, "88.118.8/U", "https://example.com/u")
    reply = b.resolver().Resolve(resolver_pb2.ResolveRequest(handle="88.118.8/U"), timeout=10)
    assert (reply.response_code, reply.signature) == (1, resolver_pb2.SIGNATURE_STATUS_UNSIGNED)
    assert dns_query(b, "88.118.8/U").rcode() == dns.rcode.NOERROR
