"""Node-to-node TLS links (sync/tls.py): flags named per link, a primary's replication port that requires client
certificates (grpcio's two modes checked), the start-up GetReplicationInfo over it, and TLS marks on sites."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from idnode.proto import toplevel_pb2
from idnode.registry.errors import StoreError
from idnode.resolver.grpc.server import replication_credentials, replication_port, start_grpc_server
from idnode.resolver.recursion import Site, _sites_of
from idnode.settings import Settings
from idnode.sync.replica import primary_info
from idnode.sync.tls import LinkTls, failure_hint
from idnode.sync.topnode.service import _site_dict, _site_msg, hs_site_values


def test_files_are_named_by_their_link(tmp_path):
    assert LinkTls.load(None, None, None, "primary") is None
    with pytest.raises(OSError, match="--primary-key k.pem needs --primary-cert"):
        LinkTls.load(None, None, "k.pem", "primary")
    with pytest.raises(OSError, match=f"cannot read --peer-ca {tmp_path / 'none.pem'}"):
        LinkTls.load(tmp_path / "none.pem", None, None, "peer")
    with pytest.raises(ValueError, match="unknown TLS link"):
        LinkTls(link="sideways")


@pytest.mark.parametrize(
    ("details", "tls", "hint"),
    [
        ("Socket closed", None, " (if the primary serves TLS: see --primary-ca, --primary-cert, --primary-key)"),
        ("Socket closed", LinkTls(b"ca", link="primary"), "the primary may require a client certificate"),
        ("Socket closed", LinkTls(b"ca", b"c", b"k", "primary"), "it may not trust this one: check --primary-cert"),
        ("CERTIFICATE_VERIFY_FAILED", LinkTls(link="peer"), "check --peer-ca against the owning node's certificate"),
        ("Connection refused", LinkTls(link="peer"), ""),
    ],
)
def test_failure_hints_name_the_link(details, tls, hint):
    got = failure_hint(details, tls, "primary" if tls is None else None)
    assert hint in got if hint else got == ""


def test_replication_port_flags_need_their_companions(tmp_path, tls_pki):
    def settings(**extra):
        return Settings(data_dir=tmp_path, **extra)

    assert replication_credentials(settings()) is None
    with pytest.raises(OSError, match="--replication-client-ca needs --replication-listen"):
        replication_credentials(settings(replication_client_ca=tls_pki.ca))
    with pytest.raises(OSError, match="--replication-listen needs --replication-client-ca"):
        replication_credentials(settings(replication_listen="127.0.0.1:0"))
    with pytest.raises(OSError, match="needs --tls-cert"):
        replication_credentials(settings(replication_listen="127.0.0.1:0", replication_client_ca=tls_pki.ca))
    with pytest.raises(OSError, match="cannot read --replication-client-ca"):
        replication_credentials(
            settings(
                replication_listen="127.0.0.1:0",
                replication_client_ca=tmp_path / "none.pem",
                tls_cert=tls_pki.server_cert,
                tls_key=tls_pki.server_key,
            )
        )


async def test_replication_needs_a_verified_client_certificate(registry, tls_pki, tmp_path):
    from idnode.registry.auth import Principal

    admin = Principal("node-admin", token_id="0123456789abcdef")
    token = (await registry.create_token(admin, "auditor", label="replica")).token
    settings = Settings(
        data_dir=tmp_path,
        tls_cert=tls_pki.server_cert,
        tls_key=tls_pki.server_key,
        replication_listen="127.0.0.1:0",
        replication_client_ca=tls_pki.ca,
    )
    from idnode.resolver.grpc.server import server_credentials, stop_grpc_server

    server, public = await start_grpc_server(
        registry,
        "127.0.0.1:0",
        credentials=server_credentials(settings),
        replication_tls=replication_credentials(settings),
    )
    mtls = replication_port(server)
    try:
        assert mtls and mtls != public
        good = LinkTls.load(tls_pki.ca, tls_pki.client_cert, tls_pki.client_key, "primary")
        info = await asyncio.to_thread(primary_info, f"127.0.0.1:{mtls}", token, 5.0, good)
        assert info.node_prefix == "88.118"

        with pytest.raises(StoreError, match="may require a client certificate: see --primary-cert"):
            no_cert = LinkTls.load(tls_pki.ca, None, None, "primary")
            await asyncio.to_thread(primary_info, f"127.0.0.1:{mtls}", token, 1.0, no_cert)
        with pytest.raises(StoreError, match="refused the replica: UNAUTHENTICATED .*--replication-listen"):
            await asyncio.to_thread(primary_info, f"127.0.0.1:{public}", token, 5.0, good)

        # grpcio's other mode: a CA but no requirement means no certificate is even asked for, so a
        # good one is invisible to the servicer (the reason replicas get their own port).
        loose = grpc.ssl_server_credentials(
            [(tls_pki.server_key.read_bytes(), tls_pki.server_cert.read_bytes())],
            root_certificates=tls_pki.ca.read_bytes(),
            require_client_auth=False,
        )
        seen = []

        async def who(request, context):
            seen.append(context.peer_identities())
            return request

        probe = grpc.aio.server()
        probe.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("t.T", {"Who": grpc.unary_unary_rpc_method_handler(who)}),)
        )
        port = probe.add_secure_port("127.0.0.1:0", loose)
        await probe.start()
        try:
            async with grpc.aio.secure_channel(f"127.0.0.1:{port}", good.credentials()) as ch:
                await ch.unary_unary("/t.T/Who")(b"x", timeout=5)
        finally:
            await probe.stop(0)
        assert seen == [None]
    finally:
        await stop_grpc_server(server, 0)


def test_sites_carry_the_tls_mark_to_the_recursor():
    tls = toplevel_pb2.Site(protocol=toplevel_pb2.SITE_PROTOCOL_GRPC, host="a.example", port=50051, tls=True)
    plain = toplevel_pb2.Site(protocol=toplevel_pb2.SITE_PROTOCOL_GRPC, host="b.example", port=50051, mirror=True)
    stored = [_site_dict(tls), _site_dict(plain)]
    assert stored[0]["tls"] is True and "tls" not in stored[1]  # a plain site is stored as before
    assert [_site_msg(s).tls for s in stored] == [True, False]
    values = hs_site_values(stored, 0)
    assert json.loads(values[0].data)["servers"] == [
        {"protocol": "grpc", "host": "a.example", "port": 50051, "tls": True}
    ]
    assert "tls" not in json.loads(values[1].data)["servers"][0]
    from_sites = _sites_of(toplevel_pb2.ResolvePrefixResponse(sites=[_site_msg(s) for s in stored]))
    from_values = _sites_of(toplevel_pb2.ResolvePrefixResponse(values=values))  # an HS_SITE-only answer
    assert from_sites == from_values == (("a.example:50051", "b.example:50051"), frozenset({"a.example:50051"}))
    site = Site(1, "88.118", *from_sites)
    assert (site.url, site.url_of("b.example:50051")) == ("grpcs://a.example:50051", "grpc://b.example:50051")


async def test_recursion_presents_peer_cert_to_an_owner_that_requires_one(seeded, tls_pki, tmp_path):
    from idnode.registry.errors import ServerNotResponsible
    from idnode.resolver.recursion import Recursor
    from idnode.sync.topnode import TopLevel, TopStore
    from idnode.sync.topnode.server import start_topnode_server

    store = TopStore(tmp_path / "top")
    core = TopLevel(store, "top-admin")
    top, top_port = await start_topnode_server(core, "127.0.0.1:0")
    owner_tls = grpc.ssl_server_credentials(
        [(tls_pki.server_key.read_bytes(), tls_pki.server_cert.read_bytes())],
        root_certificates=tls_pki.ca.read_bytes(),
        require_client_auth=True,
    )
    owner, owner_port = await start_grpc_server(seeded.registry, "127.0.0.1:0", credentials=owner_tls)
    site = toplevel_pb2.Site(protocol=toplevel_pb2.SITE_PROTOCOL_GRPC, host="127.0.0.1", port=owner_port, tls=True)
    core.register_node("node-secret", toplevel_pb2.RegisterNodeRequest(node_prefix="88.118", sites=[site]))
    recursors = [
        Recursor(f"127.0.0.1:{top_port}", "88.200", peer_tls=tls)
        for tls in (
            LinkTls.load(tls_pki.ca, tls_pki.client_cert, tls_pki.client_key, "peer"),
            LinkTls.load(tls_pki.ca, None, None, "peer"),
        )
    ]
    try:
        reply = await recursors[0].resolve_message("88.118.8", "88.118.8/JXDY2106023")
        assert (reply.response_code, reply.non_authoritative) == (1, True)
        with pytest.raises(ServerNotResponsible, match="may require a client certificate: see --peer-cert"):
            await recursors[1].resolve("88.118.8", "88.118.8/JXDY2106023")
        site.tls = False  # the owner registered its site as plain: a plain channel fails against its TLS port
        core.register_node("node-secret", toplevel_pb2.RegisterNodeRequest(node_prefix="88.118", sites=[site]))
        recursors.append(Recursor(f"127.0.0.1:{top_port}", "88.200", peer_tls=recursors[0].peer_tls))
        with pytest.raises(ServerNotResponsible, match="serve TLS while its site at the top-level node does not"):
            await recursors[2].resolve("88.118.8", "88.118.8/JXDY2106023")
    finally:
        for recursor in recursors:
            await recursor.close()
        await owner.stop(None)
        await top.stop(None)
        store.close()
