"""Whole-node fixtures: a real `idnode serve` process on a loopback port with
a real LMDB in a temporary folder, driven over gRPC like any client."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from idnode.proto import common_pb2, registry_pb2, registry_pb2_grpc, resolver_pb2_grpc, toplevel_pb2, toplevel_pb2_grpc
from idnode.registry.uscc import check_character

READY = re.compile(r"gRPC listening on [^ ]+:(\d+)")
DNS_READY = re.compile(r"DNS listening on [^ ]+:(\d+)")
HTTP_READY = re.compile(r"HTTP listening on [^ ]+:(\d+)")


def credit_code(head: str) -> str:
    return head + check_character(head)


class Node:
    """One node process; ``start()`` waits until it serves and learns its port."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.dns_port = 0  # 0 while DNS is off
        self.http_port = 0  # 0 while HTTP is off
        self.output: list[str] = []
        self.channels: list[grpc.Channel] = []

    def start(self, timeout: float = 60) -> Node:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "idnode",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--grpc-listen",
                "127.0.0.1:0",
                "--map-size",
                "1MiB",
                *(() if any(arg.startswith("--dns-listen") for arg in self.extra) else ("--dns-listen", "127.0.0.1:0")),
                *(
                    ()
                    if any(arg.startswith("--http-listen") for arg in self.extra)
                    else ("--http-listen", "127.0.0.1:0")
                ),
                *self.extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            for pattern, attribute in ((READY, "port"), (DNS_READY, "dns_port"), (HTTP_READY, "http_port")):
                match = pattern.search(line)
                if match:
                    setattr(self, attribute, int(match.group(1)))
            if self.port and all(
                getattr(self, attribute) or self._off(flag)
                for flag, attribute in (("--dns-listen", "dns_port"), ("--http-listen", "http_port"))
            ):
                return self
        self.stop()
        raise AssertionError("node did not start:\n" + "".join(self.output))

    def _off(self, flag: str) -> bool:
        return f"{flag}=off" in self.extra or (flag, "off") in zip(self.extra, self.extra[1:], strict=False)

    @property
    def http(self) -> str:
        """The base URL of the HTTP front end."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin.credential").read_text().strip()

    def channel(self) -> grpc.Channel:
        ch = grpc.insecure_channel(self.target)
        self.channels.append(ch)
        return ch

    def resolver(self) -> resolver_pb2_grpc.ResolverStub:
        return resolver_pb2_grpc.ResolverStub(self.channel())

    def registry(self) -> registry_pb2_grpc.RegistryStub:
        return registry_pb2_grpc.RegistryStub(self.channel())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        for ch in self.channels:
            ch.close()
        self.channels.clear()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.output.extend(self.proc.stdout.readlines())
            self.proc.stdout.close()
        code = self.proc.returncode
        self.proc = None
        return code


@pytest.fixture
def node_factory(tmp_path):
    nodes: list[Node] = []

    def make(*extra: str, data_dir: Path | None = None) -> Node:
        node = Node(data_dir or tmp_path / "data", *extra)
        nodes.append(node)
        return node.start()

    yield make
    for node in nodes:
        node.stop()


@pytest.fixture
def node(node_factory):
    return node_factory()


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def setup_enterprise(node: Node, head: str, prefix: str, approve: bool = True) -> str:
    """Register, approve and give a prefix to an enterprise; return its token."""
    reg = node.registry()
    admin = auth(node.admin_token)
    code = credit_code(head)
    reg.AddEnterprise(
        registry_pb2.Enterprise(credit_code=code, name=f"Co {head[-4:]}", contact="x@y.z"), metadata=admin
    )
    if approve:
        reg.SetEnterpriseStatus(
            registry_pb2.SetEnterpriseStatusRequest(credit_code=code, status=registry_pb2.ENTERPRISE_STATUS_APPROVED),
            metadata=admin,
        )
    reg.AllocatePrefix(registry_pb2.AllocatePrefixRequest(credit_code=code, prefix=prefix), metadata=admin)
    return reg.CreateToken(registry_pb2.CreateTokenRequest(role="enterprise", credit_code=code), metadata=admin).token


def url_writes(handles: list[str], url: str = "https://k/{handle}") -> list[registry_pb2.IdentifierWrite]:
    """One IdentifierWrite per handle with a single URL value (``url`` formatted with the handle)."""
    return [
        registry_pb2.IdentifierWrite(
            handle=h, values=[common_pb2.HandleValue(index=1, type="URL", data=url.format(handle=h).encode())]
        )
        for h in handles
    ]


def create_batch(reg: registry_pb2_grpc.RegistryStub, token: str, handles: list[str]) -> tuple[list, str | None]:
    """BatchCreate of :func:`url_writes`: ``(results, None)``, or ``([], status name)`` when the call fails."""
    try:
        request = registry_pb2.BatchCreateRequest(items=url_writes(handles))
        return list(reg.BatchCreate(request, metadata=auth(token), timeout=10).results), None
    except grpc.RpcError as err:
        return [], err.code().name


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return sorted(out)


def wait_folder_free(data_dir: Path, timeout: float = 15) -> None:
    """Wait until no process holds the data folder's lock."""
    from idnode.registry.errors import StoreLocked
    from idnode.registry.store import lock_folder

    deadline = time.monotonic() + timeout
    while True:
        try:
            os.close(lock_folder(data_dir))
            return
        except StoreLocked:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def checksum(data_dir: Path) -> str:
    """The output of `idnode checksum` on a folder (works while its node runs); the command must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "idnode", "checksum", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


TOP_READY = re.compile(r"idnode topnode: gRPC listening on [^ ]+:(\d+)")


class TopNode:
    """`idnode topnode serve` on a loopback port (0 picks one; a restart reuses it)."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.output: list[str] = []

    def start(self, timeout: float = 30) -> TopNode:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "idnode", "topnode", "serve", "--data-dir", str(self.data_dir)]
            + ["--grpc-listen", f"127.0.0.1:{self.port}", "--grace", "2", *self.extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            match = TOP_READY.search(line)
            if match:
                self.port = int(match.group(1))
                return self
        self.stop(signal.SIGKILL)
        raise AssertionError("top node did not start:\n" + "".join(self.output))

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stdout is not None
        self.output.extend(self.proc.stdout.readlines())
        self.proc.stdout.close()
        code, self.proc = self.proc.returncode, None
        return code

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``idnode topnode ARGS`` against this top node, with its admin credential."""
        return subprocess.run(
            [sys.executable, "-m", "idnode", "topnode", *args, "--top", self.target, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def copy(self, node_prefix: str = "88.118") -> list[toplevel_pb2.Change]:
        """A node's DR copy, read back with the top node's admin credential."""
        admin = (self.data_dir / "admin.credential").read_text().strip()
        with grpc.insecure_channel(self.target) as channel:
            stub = toplevel_pb2_grpc.TopLevelStub(channel)
            request = toplevel_pb2.FetchChangesRequest(node_prefix=node_prefix)
            return list(stub.FetchChanges(request, metadata=auth(admin), timeout=10))
