"""TLS on node-to-node gRPC links (top-level node, primary, owning nodes): flags turned into channels, in one place.

Every channel a node opens to another node goes through :func:`channel`
with a :class:`LinkTls` (or None for plain gRPC). Three links, each with the
same three flags (``--<link>-ca``, ``--<link>-cert``, ``--<link>-key``):

- ``top``: the top-level node: the outbox (``sync/outbox.py``), ``idnode
  restore-from-top`` (``sync/restore.py``) and recursion's ``ResolvePrefix``
  (``resolver/recursion.py``);
- ``primary``: a read replica's primary: the follower's ``Follow`` and
  ``Snapshot`` (``sync/replica.py``), the start-up ``GetReplicationInfo`` and
  ``--forward-writes`` (``idnode/node.py``);
- ``peer``: owning nodes that recursion resolves at (``resolver/recursion.py``),
  used for the sites the top-level node marks as TLS (``Site.tls``).

The flags:

- ``--<link>-ca FILE``: PEM trust roots the other node's certificate must
  chain to (default with TLS on: the system's roots as gRPC finds them);
- ``--<link>-cert FILE`` / ``--<link>-key FILE``: this node's client
  certificate and key for mutual TLS (``idnode topnode serve
  --tls-client-ca``, a primary's ``--replication-client-ca``); the key
  defaults to the certificate file.

For ``top`` and ``primary``, TLS is on as soon as one of them is given. Files
are read once, at start, and a missing or unreadable one fails the start
naming it. The other node's certificate must name the host dialled (a DNS
name or an IP address in its subjectAltName).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

__all__ = ["LINKS", "LinkTls", "TopTls", "channel", "failure_hint", "top_channel"]

LINKS = {"top": "the top-level node", "primary": "the primary", "peer": "the owning node"}
"""The links and how log lines name the other end."""
_TLS_WORDS = ("ssl", "tls", "handshake", "certificate")


@dataclasses.dataclass(frozen=True, slots=True)
class LinkTls:
    """The PEM bytes of the trust roots and the client certificate and key (each optional) of one link."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None
    link: str = "top"  # a key of LINKS: names the flags in errors and hints

    def __post_init__(self) -> None:
        if self.link not in LINKS:
            raise ValueError(f"unknown TLS link {self.link!r} (one of {', '.join(LINKS)})")

    @classmethod
    def load(
        cls, ca: Path | str | None, cert: Path | str | None, key: Path | str | None, link: str = "top"
    ) -> LinkTls | None:
        """Read the files of ``--<link>-ca``, ``--<link>-cert``, ``--<link>-key``; None when none is given.

        Raises:
            OSError: a file cannot be read, or a key is given without a certificate (naming the flag and file).
        """
        if not (ca or cert or key):
            return None
        if key and not cert:
            raise OSError(f"--{link}-key {key} needs --{link}-cert (the client certificate it belongs to)")

        def read(flag: str, path: Path | str | None) -> bytes | None:
            if not path:
                return None
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise OSError(f"cannot read --{link}-{flag} {path}: {exc.strerror or exc}") from None

        cert_bytes = read("cert", cert)
        return cls(read("ca", ca), cert_bytes, read("key", key) or cert_bytes, link)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key if self.cert else None, certificate_chain=self.cert
        )


TopTls = LinkTls
"""The top-level node's link (the name the upward sync has always used)."""


def channel(target: str, tls: LinkTls | None, options: Sequence[tuple[str, Any]] = (), *, aio: bool = True) -> Any:
    """A channel to another node: TLS with ``tls``, plain without; ``aio`` picks grpc.aio or sync grpc."""
    module: Any = grpc.aio if aio else grpc
    if tls is None:
        return module.insecure_channel(target, options=list(options))
    return module.secure_channel(target, tls.credentials(), options=list(options))


top_channel = channel


def failure_hint(details: str | None, tls: LinkTls | None, link: str | None = None) -> str:
    """A hint to add to a failed call's log line when it looks like a TLS problem ("" otherwise).

    ``link`` names the link when ``tls`` is None (default: ``tls.link``, else ``top``).
    """
    link = link or (tls.link if tls is not None else "top")
    other, flags = LINKS[link], f"--{link}-ca, --{link}-cert, --{link}-key"
    text = (details or "").lower()
    if "socket closed" in text:  # what a client sees of a TLS server refusing it (plain text, or no certificate)
        if tls is None:
            return f" (if {other} serves TLS: see {flags})"
        if tls.cert is None:
            return f" ({other} may require a client certificate: see --{link}-cert, --{link}-key)"
        return f" (if {other} requires client certificates, it may not trust this one: check --{link}-cert)"
    if not any(word in text for word in _TLS_WORDS):
        return ""
    if tls is None:
        return f" (TLS handshake failed: {other} may require TLS; see {flags})"
    return f" (TLS handshake failed: check --{link}-ca against {other}'s certificate, and --{link}-cert/--{link}-key)"
