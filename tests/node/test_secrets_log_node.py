"""No secret reaches a log line: a prefork node at --log-level debug with JSON logs, and its top-level node.

Drives an authenticated gRPC write, failed authentications (a wrong secret,
a malformed token, a wrong HTTP Basic password), an HTTP Basic session and a
write in it, a Bearer write over HTTP, and the upward sync with the node's
top credential; then looks for every secret, and the base64 forms a Basic
header would carry, in every line both processes wrote.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.parse

import grpc
import pytest

from idnode.proto import common_pb2, registry_pb2

from .conftest import TopNode, auth, setup_enterprise
from .test_http_handles_node import basic, call
from .test_outbox_node import decide

pytestmark = pytest.mark.node

HEAD = "91350100M000100Y4"
IDENTITY = "300%3A88.118.8/ADMIN"


def _forms(secret: str) -> set[str]:
    """A secret as it could appear in a line: itself, its secret part, and inside a base64 Basic header."""
    forms = {secret, secret.rsplit(".", 1)[-1]}
    for user in ("300:88.118.8/ADMIN", "300%3A88.118.8/ADMIN", ""):
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return {f for f in forms if len(f) >= 8}


def _console_sign_in(node, credential: str, identity: str) -> str:
    """The web console's session id after signing in with ``credential`` ("" when refused)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=15)
    try:
        form = urllib.parse.urlencode({"credential": credential, "identity": identity})
        conn.request(
            "POST", "/console/signin", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        reply = conn.getresponse()
        reply.read()
        for header in reply.headers.get_all("Set-Cookie") or ():
            name, _, rest = header.partition("=")
            if name == "idnode_session":
                assert reply.status == 303
                return rest.partition(";")[0]
        assert reply.status == 403
        return ""
    finally:
        conn.close()


def test_no_secret_is_logged_at_debug_in_json(node_factory, tmp_path):
    top = TopNode(tmp_path / "top").start()
    try:
        node = node_factory(
            *("--workers", "2", "--log-level", "debug", "--log-format", "json", "--dns-listen", "off"),
            *("--top", top.target, "--grace", "2"),
        )
        token = setup_enterprise(node, HEAD, "88.118.8")
        decide(top, node, "88.118.8")
        reg = node.registry()
        value = common_pb2.HandleValue(index=1, type="URL", data=b"https://s/1")
        write = registry_pb2.IdentifierWrite(handle="88.118.8/S1", values=[value])
        assert reg.CreateIdentifier(write, metadata=auth(token)).response_code == 1

        token_id = token.split(".")[1]
        wrong = f"idn1.{token_id}.{'Z' * 40}"  # the right token id, a wrong secret
        malformed = "idn1.not-a-token-id.Wrong-Secret-Value-1234"
        for bad in (wrong, malformed):
            with pytest.raises(grpc.RpcError) as info:
                reg.CreateIdentifier(write, metadata=auth(bad))
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED

        owner = basic(IDENTITY, token)
        status, opened = call(node, "POST", "/api/sessions", owner)
        assert status == 201
        session = opened["sessionId"]
        in_session = {"Authorization": f'Handle sessionId="{session}"'}
        values = [{"index": 1, "type": "URL", "data": "https://s/2"}]
        assert call(node, "PUT", "/api/handles/88.118.8/S2", in_session, values)[0] == 201
        bearer = {"Authorization": f"Bearer {token}"}
        assert call(node, "PUT", "/api/handles/88.118.8/S3", bearer, values)[0] == 201
        assert call(node, "PUT", "/api/handles/88.118.8/S4", basic(IDENTITY, wrong), values)[0] in (401, 403)
        console_session = _console_sign_in(node, token, "300:88.118.8/ADMIN")
        assert console_session
        assert _console_sign_in(node, wrong, "") == ""  # a refused console sign-in

        deadline = time.monotonic() + 15  # the writes reached the top node with the node's top credential
        while not any(c.handle == "88.118.8/S3" for c in top.copy()):
            assert time.monotonic() < deadline, "the node never pushed its changes to the top node"
            time.sleep(0.1)
        secrets = {
            "enterprise token": token,
            "wrong secret": wrong,
            "malformed token": malformed,
            "session id": session,
            "console session id": console_session,
            "node-admin credential": node.admin_token,
            "top credential": (node.data_dir / "top.credential").read_text().strip(),
            "top node admin credential": (top.data_dir / "admin.credential").read_text().strip(),
        }
        node.stop()
    finally:
        top.stop()

    lines = node.output + top.output
    records = [json.loads(line) for line in node.output if line.startswith("{")]
    seen = {(r["level"], r["logger"]) for r in records if "request_id" in r}
    # the per-request debug lines (with their request ids) of both front ends were written and searched
    assert {("debug", "idnode.requestid"), ("debug", "idnode.resolver.http.server")} <= seen, seen
    for name, secret in secrets.items():
        for form in _forms(secret):
            leaked = [line for line in lines if form in line]
            assert not leaked, f"{name} in the log: {leaked[0][:200]}"
