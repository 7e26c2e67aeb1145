"""Signed values with keys in HS_CERT across real processes: node A signs with `idnode id sign --cert`;
node B (`--signer-ca`) resolves by recursion and trusts only certificates of that CA; `idnode id get
--verify --trust-ca` does the same at the client."""

from __future__ import annotations

import json

import dns.rcode
import pytest

from idnode.proto import resolver_pb2
from idnode.registry import signing
from tests.certificates import issue, make_ca, pem

from .conftest import TopNode, setup_enterprise
from .test_cli_node import idnode
from .test_hierarchy_node import HANDLE, approve_on_top, create_when_allowed, dns_query, http_get
from .test_signing_node import create, publish_key, verify

pytestmark = pytest.mark.node


@pytest.fixture
def trusting(tmp_path, node_factory):
    """Top node, owner A and B (``--signer-ca ca.pem``); A holds 88.118.8/X. Yields (a, b, CAs folder,
    the trusted CA, another CA)."""
    trusted, other = make_ca("idnode test signer CA"), make_ca("unknown CA")
    (tmp_path / "ca.pem").write_bytes(pem(trusted[0]))
    top = TopNode(tmp_path / "top").start()
    try:
        target = f"127.0.0.1:{top.port}"
        a = node_factory("--node-prefix", "88.118", "--top", target, "--workers", "1", data_dir=tmp_path / "a")
        b = node_factory(
            "--node-prefix", "88.200", "--top", target, "--workers", "1",
            "--signer-ca", str(tmp_path / "ca.pem"), data_dir=tmp_path / "b",
        )  # fmt: skip
        token = setup_enterprise(a, "91350100M000100Y4", "88.118.8")
        approve_on_top(top, a, "88.118.8")
        create_when_allowed(a, token)
        yield a, b, tmp_path, trusted, other
    finally:
        top.stop()


def signer(folder, name: str, issuer, algorithm: str = "EdDSA") -> tuple[str, str]:
    """A new private key file and the certificate ``issuer`` gives its key: (key path, cert path)."""
    key_file = folder / f"{name}.pem"
    key = signing.generate_key(algorithm)
    key_file.write_bytes(signing.private_pem(key))
    cert_file = folder / f"{name}-cert.pem"
    cert_file.write_bytes(pem(issue(f"{name} signer", key.public_key(), issuer, ca=False)))
    return str(key_file), str(cert_file)


def test_b_trusts_only_certificates_of_its_signer_ca(trusting):
    a, b, folder, trusted, other = trusting
    ca = str(folder / "ca.pem")
    key, cert = signer(folder, "good", trusted, "ES256")
    idnode(a, "id", "sign", HANDLE, "--key", key, "--cert", cert)  # A's admin credential from its data folder
    values = json.loads(idnode(a, "id", "get", HANDLE).stdout)["values"]
    assert [(v["index"], v["type"]) for v in values if v["index"] >= 400] == [(400, "HS_SIGNATURE"), (401, "HS_CERT")]
    idnode(a, "id", "sign", HANDLE, "--key", key, "--cert", cert)  # again: both values modified in place
    assert [v["index"] for v in json.loads(idnode(a, "id", "get", HANDLE).stdout)["values"]] == [1, 2, 400, 401]

    code, signature, stderr = verify(a, HANDLE, "--trust-ca", ca)  # at the client, against the owner
    assert (code, signature["status"]) == (0, "valid"), stderr
    assert f"signed by CN=good signer (certificate 401:{HANDLE}) (ES256)" in signature["message"]

    # Y: certified by a CA B does not trust. Z: a bare HS_PUBKEY, which --signer-ca does not vouch for.
    create(a, a.admin_token, "88.118.8/Y", "https://example.com/y")
    stranger_key, stranger_cert = signer(folder, "stranger", other)
    idnode(a, "id", "sign", "88.118.8/Y", "--key", stranger_key, "--cert", stranger_cert)
    create(a, a.admin_token, "88.118.8/Z", "https://example.com/z")
    publish_key(a, a.admin_token, "88.118.8/Z", folder / "bare.pem")
    idnode(a, "id", "sign", "88.118.8/Z", "--key", str(folder / "bare.pem"))

    reply = b.resolver().Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10)
    assert (reply.non_authoritative, reply.signature) == (True, resolver_pb2.SIGNATURE_STATUS_VALID)
    assert "CN=good signer" in reply.signature_message
    for handle, words in (("88.118.8/Y", "does not chain to --signer-ca"), ("88.118.8/Z", "is a bare HS_PUBKEY")):
        reply = b.resolver().Resolve(resolver_pb2.ResolveRequest(handle=handle), timeout=10)
        assert reply.response_code == 1 and reply.signature == resolver_pb2.SIGNATURE_STATUS_UNTRUSTED, handle
        assert reply.signature_message.startswith("signature not trusted: ") and words in reply.signature_message
        status, headers, _ = http_get(f"{b.http}/api/handles/{handle}")
        assert status == 200 and headers.get("X-Idnode-Signature") == "untrusted"
        assert dns_query(b, handle).rcode() == dns.rcode.SERVFAIL  # like bogus DNSSEC data
    assert dns_query(b, HANDLE, tcp=True).rcode() == dns.rcode.NOERROR

    # The client's own check: untrusted with --trust-ca, valid (integrity only) without it.
    code, signature, stderr = verify(a, "88.118.8/Y", "--trust-ca", ca)
    assert code == 1 and signature["status"] == "untrusted" and "error: signature untrusted: " in stderr
    code, signature, _ = verify(a, "88.118.8/Y")
    assert (code, signature["status"]) == (0, "valid") and "CN=stranger signer" in signature["message"]
    # Z re-signed with a certificate of the trusted CA (the signature exists, the certificate is new).
    good_key, good_cert = signer(folder, "z", trusted)
    idnode(a, "id", "sign", "88.118.8/Z", "--key", good_key, "--cert", good_cert)
    code, signature, stderr = verify(a, "88.118.8/Z", "--trust-ca", ca)
    assert (code, signature["status"]) == (0, "valid"), stderr

    # A certificate that is not of the key is refused, and nothing is written.
    before = json.loads(idnode(a, "id", "get", "88.118.8/Z").stdout)["values"]
    refused = idnode(a, "id", "sign", "88.118.8/Z", "--key", key, "--cert", good_cert, check=False)
    assert refused.returncode == 2 and "the certificate is not of the --key private key" in refused.stderr
    assert json.loads(idnode(a, "id", "get", "88.118.8/Z").stdout)["values"] == before
