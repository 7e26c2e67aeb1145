"""TLS to the top-level node: ``--top-ca``, ``--top-cert`` and ``--top-key`` turned into gRPC channels, in one place.

Every channel a node opens to its top-level node goes through
:func:`top_channel`: the outbox (``sync/outbox.py``), ``idnode
restore-from-top`` (``sync/restore.py``) and recursive resolution's
``ResolvePrefix`` (``resolver/recursion.py``). Without any of the three
files the channel is plain (``insecure_channel``), as before.

- ``--top-ca FILE``: PEM trust roots the top-level node's certificate must
  chain to (default with TLS on: the system's roots as gRPC finds them).
- ``--top-cert FILE`` / ``--top-key FILE``: this node's client certificate
  and key for mutual TLS (``idnode topnode serve --tls-client-ca`` requires
  one); the key defaults to the certificate file.

TLS is on as soon as one of them is given. Files are read once, at start,
and a missing or unreadable one fails the start naming it. The top-level
node's certificate must name the host given in ``--top`` (a DNS name or an
IP address in its subjectAltName).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

__all__ = ["TopTls", "failure_hint", "top_channel"]

_TLS_WORDS = ("ssl", "tls", "handshake", "certificate")


@dataclasses.dataclass(frozen=True, slots=True)
class TopTls:
    """The PEM bytes of the trust roots and the client certificate and key (each optional)."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None

    @classmethod
    def load(cls, ca: Path | str | None, cert: Path | str | None, key: Path | str | None) -> TopTls | None:
        """Read the files; None when none is given (a plain channel).

        Raises:
            OSError: a file cannot be read, or a key is given without a certificate (naming the flag and file).
        """
        if not (ca or cert or key):
            return None
        if key and not cert:
            raise OSError(f"--top-key {key} needs --top-cert (the client certificate it belongs to)")

        def read(flag: str, path: Path | str | None) -> bytes | None:
            if not path:
                return None
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise OSError(f"cannot read {flag} {path}: {exc.strerror or exc}") from None

        cert_bytes = read("--top-cert", cert)
        return cls(read("--top-ca", ca), cert_bytes, read("--top-key", key) or cert_bytes)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key if self.cert else None, certificate_chain=self.cert
        )


def top_channel(target: str, tls: TopTls | None, options: Sequence[tuple[str, Any]] = (), *, aio: bool = True) -> Any:
    """A channel to the top-level node: TLS with ``tls``, plain without; ``aio`` picks grpc.aio or sync grpc."""
    module: Any = grpc.aio if aio else grpc
    if tls is None:
        return module.insecure_channel(target, options=list(options))
    return module.secure_channel(target, tls.credentials(), options=list(options))


def failure_hint(details: str | None, tls: TopTls | None) -> str:
    """A hint to add to a failed call's log line when it looks like a TLS problem ("" otherwise)."""
    text = (details or "").lower()
    if "socket closed" in text:  # what a client sees of a TLS server refusing it (plain text, or no certificate)
        if tls is None:
            return " (if the top-level node serves TLS: see --top-ca, --top-cert, --top-key)"
        if tls.cert is None:
            return " (the top-level node may require a client certificate: see --top-cert, --top-key)"
    if not any(word in text for word in _TLS_WORDS):
        return ""
    if tls is None:
        return " (TLS handshake failed: the top-level node may require TLS; see --top-ca, --top-cert, --top-key)"
    return " (TLS handshake failed: check --top-ca against the top-level node's certificate, and --top-cert/--top-key)"
