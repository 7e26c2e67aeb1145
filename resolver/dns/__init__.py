"""The DNS front end: identifier, GTIN and OID names under the node's zone (the server comes later).

The wire codec is ``idnode._fastpath``'s (``_dns_py.py``); this package maps
names (:mod:`idnode.resolver.dns.names`).
"""

from __future__ import annotations

from idnode.resolver.dns.names import (
    DEFAULT_ZONE,
    DnsNameError,
    InvalidKey,
    MalformedName,
    NameInfo,
    NameTooLong,
    NotAnIdentifierName,
    OutsideZone,
    UnsupportedPrefix,
    classify_name,
    gtin_to_name,
    handle_to_labels,
    handle_to_name,
    name_to_gtin,
    name_to_handle,
    name_to_oid,
    oid_to_name,
    zone_labels,
)

__all__ = [
    "DEFAULT_ZONE",
    "DnsNameError",
    "InvalidKey",
    "MalformedName",
    "NameInfo",
    "NameTooLong",
    "NotAnIdentifierName",
    "OutsideZone",
    "UnsupportedPrefix",
    "classify_name",
    "gtin_to_name",
    "handle_to_labels",
    "handle_to_name",
    "name_to_gtin",
    "name_to_handle",
    "name_to_oid",
    "oid_to_name",
    "zone_labels",
]
