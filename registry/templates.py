"""Metadata templates (元数据模板): validation, checking values against one, enterprise-API JSON.

A template is one version of the attribute list a prefix's identifiers must
follow (DOMAIN.md section 5). A registration names its template version,
stored at the reserved index 1001; :func:`check_values` then checks every
other non-``HS_`` value against the template's items.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from idnode._fastpath import parse_prefix
from idnode.registry.errors import InvalidValue
from idnode.registry.gs1 import gtin_check_digit, gtin_valid  # also exported from here (older callers)
from idnode.registry.model import Template, TemplateItem
from idnode.registry.values import MAX_INDEX, MAX_TYPE_CHARS, TEMPLATE_VERSION_INDEX, Value

__all__ = [
    "MAX_ITEMS",
    "MAX_ITEM_NAME_CHARS",
    "MAX_VERSION_CHARS",
    "METADATA_TYPES",
    "check_values",
    "gtin_check_digit",
    "gtin_valid",
    "template_from_json",
    "template_to_json",
    "validate_template",
]

METADATA_TYPES = ("string", "number", "integer", "url", "date", "datetime", "gtin", "email", "boolean")
MAX_ITEMS = 200
MAX_VERSION_CHARS = 32
MAX_ITEM_NAME_CHARS = MAX_TYPE_CHARS  # an item name is a value type
MAX_SHOWN_CHARS = 40

_VERSION = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_URL_SCHEMES = frozenset({"http", "https", "ftp"})


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _has_control(text: str) -> bool:
    if text.isascii() and text.isprintable():
        return False
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


# -- template validation ---------------------------------------------------------


def _check_item(position: int, item: Any) -> None:
    if not isinstance(item, TemplateItem):
        raise InvalidValue(f"template item {position} must be a TemplateItem, got {type(item).__name__}")
    name = item.name
    if not isinstance(name, str) or not name:
        raise InvalidValue(f"template item {position}: name is empty")
    where = f"template item {position} ({name})"
    if len(name) > MAX_ITEM_NAME_CHARS:
        raise InvalidValue(f"{where}: name has {len(name)} characters, at most {MAX_ITEM_NAME_CHARS} allowed")
    if _has_control(name):
        raise InvalidValue(f"{where}: name has a control character")
    if name.startswith("HS_"):
        # HS_ values are Handle's own and never checked against a template,
        # so an HS_ item could never be matched (and, if required, never met).
        raise InvalidValue(f"{where}: names starting with 'HS_' are reserved for Handle value types")
    if not isinstance(item.id_type, str):
        raise InvalidValue(f"{where}: idType must be text, got {type(item.id_type).__name__}")
    if not isinstance(item.required, bool):
        raise InvalidValue(f"{where}: required must be true or false, got {item.required!r}")
    if item.metadata_type not in METADATA_TYPES:
        raise InvalidValue(f"{where}: metadata type {item.metadata_type!r} is not one of {', '.join(METADATA_TYPES)}")
    for field, number in (("minLength", item.min_length), ("maxLength", item.max_length)):
        if not _is_int(number) or number < 0:
            raise InvalidValue(f"{where}: {field} must be a non-negative integer, got {number!r}")
    if item.max_length != 0 and item.min_length > item.max_length:
        raise InvalidValue(f"{where}: minLength {item.min_length} is greater than maxLength {item.max_length}")
    if not _is_int(item.index) or not 0 <= item.index <= MAX_INDEX:
        raise InvalidValue(f"{where}: index must be an integer from 0 to {MAX_INDEX}, got {item.index!r}")
    if item.index == TEMPLATE_VERSION_INDEX:
        raise InvalidValue(f"{where}: index {TEMPLATE_VERSION_INDEX} is reserved for the template version")


def validate_template(t: Template) -> Template:
    """Check a template and return it with its prefix normalised.

    Rules: the prefix parses (:func:`idnode._fastpath.parse_prefix`); the
    version is 1 to 32 characters of ``[A-Za-z0-9._-]``; there are 1 to 200
    items; item names are unique, non-empty, at most 128 characters, free of
    control characters and do not start with ``HS_``; each metadata type is
    one of :data:`METADATA_TYPES`; lengths are non-negative and ``min_length
    <= max_length`` unless ``max_length`` is 0 (no maximum); an item index is
    0 (any) or a valid value index other than 1001, and no two items fix the
    same index.

    Args:
        t: the template as received.

    Returns:
        An equal template whose ``prefix`` is normalised (lower case, NFC)
        and whose ``items`` is a tuple.

    Raises:
        InvalidHandle (102): the prefix does not parse.
        InvalidValue (202): any other rule; the message names the item by
        position and name.
    """
    if not isinstance(t, Template):
        raise InvalidValue(f"expected a Template, got {type(t).__name__}")
    prefix = parse_prefix(t.prefix)
    version = t.version
    if not isinstance(version, str) or not version:
        raise InvalidValue(f"template for {prefix}: version is empty")
    if len(version) > MAX_VERSION_CHARS:
        raise InvalidValue(
            f"template for {prefix}: version has {len(version)} characters, at most {MAX_VERSION_CHARS} allowed"
        )
    if not _VERSION.fullmatch(version):
        raise InvalidValue(f"template for {prefix}: version {version!r} may only use letters, digits, '.', '_' and '-'")
    for field in ("industry_code", "carrier_type", "description"):
        if not isinstance(getattr(t, field), str):
            raise InvalidValue(f"template {prefix} v{version}: {field} must be text")
    if not _is_int(t.created) or t.created < 0:
        raise InvalidValue(f"template {prefix} v{version}: created must be a non-negative integer")
    if not isinstance(t.items, (tuple, list)):
        raise InvalidValue(f"template {prefix} v{version}: items must be a tuple, got {type(t.items).__name__}")
    items = tuple(t.items)
    if not items:
        raise InvalidValue(f"template {prefix} v{version} has no items")
    if len(items) > MAX_ITEMS:
        raise InvalidValue(f"template {prefix} v{version} has {len(items)} items, at most {MAX_ITEMS} allowed")
    names: dict[str, int] = {}
    indexes: dict[int, str] = {}
    for position, item in enumerate(items):
        _check_item(position, item)
        if item.name in names:
            raise InvalidValue(f"template item {position} ({item.name}): name already used by item {names[item.name]}")
        names[item.name] = position
        if item.index:
            if item.index in indexes:
                raise InvalidValue(
                    f"template item {position} ({item.name}): index {item.index} "
                    f"already fixed for item {indexes[item.index]!r}"
                )
            indexes[item.index] = item.name
    return dataclasses.replace(t, prefix=prefix, items=items)


# -- data checks per metadata type -------------------------------------------------


def _number(text: str) -> str:
    if not _NUMBER.fullmatch(text) or not math.isfinite(float(text)):
        return "is not a finite decimal number"
    return ""


def _integer(text: str) -> str:
    return "" if _INTEGER.fullmatch(text) else "is not an integer"


def _url(text: str) -> str:
    problem = "is not an http, https or ftp URL with a host"
    # For ASCII text, isprintable() rejects every whitespace but the space itself.
    if not text.isascii() or not text.isprintable() or " " in text:
        return problem
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return problem
    if parts.scheme.lower() not in _URL_SCHEMES or not parts.hostname:
        return problem
    return ""


def _date(text: str) -> str:
    if not _DATE.fullmatch(text):
        return "is not a date of the form YYYY-MM-DD"
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return "is not a valid calendar date"
    return ""


def _datetime(text: str) -> str:
    problem = "is not an ISO 8601 date and time"
    if not text.isascii():
        return problem
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        datetime.datetime.fromisoformat(text)
    except ValueError:
        return problem
    return ""


def _gtin(text: str) -> str:
    if not gtin_valid(text):
        return "is not a GTIN (8, 12, 13 or 14 digits with a valid check digit)"
    return ""


def _email(text: str) -> str:
    local, at, domain = text.rpartition("@")
    if (
        not at
        or not local
        or "@" in local
        or "." not in domain.strip(".")
        or ".." in domain
        or any(c.isspace() for c in text)
        or _has_control(text)
    ):
        return "is not an email address (local@domain.tld)"
    return ""


def _boolean(text: str) -> str:
    return "" if text in ("true", "false") else "is not true or false"


_DATA_CHECKS: dict[str, Callable[[str], str]] = {
    "string": lambda text: "",
    "number": _number,
    "integer": _integer,
    "url": _url,
    "date": _date,
    "datetime": _datetime,
    "gtin": _gtin,
    "email": _email,
    "boolean": _boolean,
}


def _shown(text: str) -> str:
    return repr(text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "...")


def check_values(t: Template, values: Sequence[Value], handle: str = "") -> None:
    """Check an identifier's values against a (validated) template.

    Values whose type starts with ``HS_`` and the template-version value
    (index 1001) are not checked. Every other value must name a template item
    by its type; sit at the item's index when the item fixes one; appear at
    most once; have between ``min_length`` and ``max_length`` characters
    (``value.text``; ``max_length`` 0 = no maximum); and match the item's
    metadata type. Every required item must be present.

    Args:
        t: a template that passed :func:`validate_template`.
        values: the identifier's values.
        handle: put on the raised error so batch results name the item.

    Raises:
        InvalidValue (202): the first violation; the message names the value
        index and type, the offending text (at most 40 characters) and the
        template, e.g. ``value 2 (productName): 'ab' is shorter than 3
        characters (template 88.118.8 v1.0)``. The error also carries
        ``field`` (the item name; the value index for a type not in the
        template), ``problem`` (an id of ``errors.PROBLEMS``, e.g.
        ``"too_short"``) and ``params`` (``{"min": 3}``), so a front end can
        word it in its own language without parsing the message.
    """
    where_template = f"template {t.prefix} v{t.version}"
    items = {item.name: item for item in t.items}
    seen: dict[str, int] = {}
    for value in values:
        vtype = value.type
        if vtype.startswith("HS_") or value.index == TEMPLATE_VERSION_INDEX:
            continue
        item = items.get(vtype)
        if item is None:
            raise InvalidValue(
                f"type {vtype!r} of value {value.index} is not in {where_template}",
                handle=handle,
                field=value.index,
                problem="not_in_template",
                params={"type": vtype},
            )
        where = f"value {value.index} ({vtype})"
        if item.index and value.index != item.index:
            raise InvalidValue(
                f"{where}: must be at index {item.index} ({where_template})",
                handle=handle,
                field=vtype,
                problem="wrong_index",
                params={"index": item.index},
            )
        if vtype in seen:
            raise InvalidValue(
                f"{where}: item {vtype!r} already given at value {seen[vtype]} ({where_template})",
                handle=handle,
                field=vtype,
                problem="repeated",
                params={"first": seen[vtype]},
            )
        seen[vtype] = value.index
        text = value.text
        params: dict[str, str | int] = {}
        if len(text) < item.min_length:
            problem, problem_id, params = (
                f"is shorter than {item.min_length} characters",
                "too_short",
                {"min": item.min_length},
            )
        elif item.max_length and len(text) > item.max_length:
            problem, problem_id, params = (
                f"is longer than {item.max_length} characters",
                "too_long",
                {"max": item.max_length},
            )
        else:
            problem, problem_id = _DATA_CHECKS[item.metadata_type](text), f"not_{item.metadata_type}"
        if problem:
            raise InvalidValue(
                f"{where}: {_shown(text)} {problem} ({where_template})",
                handle=handle,
                field=vtype,
                problem=problem_id,
                params=params,
            )
    for item in t.items:
        if item.required and item.name not in seen:
            raise InvalidValue(
                f"required item {item.name!r} is missing ({where_template})",
                handle=handle,
                field=item.name,
                problem="required",
            )


# -- enterprise-API JSON -----------------------------------------------------------


def template_to_json(t: Template) -> dict[str, Any]:
    """The enterprise-API JSON object of a template (see :func:`template_from_json`)."""
    return {
        "prefix": t.prefix,
        "version": t.version,
        "industryCode": t.industry_code,
        "carrierType": t.carrier_type,
        "description": t.description,
        "items": [
            {
                "name": item.name,
                "idType": item.id_type,
                "required": item.required,
                "index": item.index,
                "metadata": {"type": item.metadata_type, "minLength": item.min_length, "maxLength": item.max_length},
            }
            for item in t.items
        ],
        "created": t.created,
    }


_MISSING = object()


def _field(obj: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = obj.get(key, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise InvalidValue(f"{where}{key} is missing")
        return default
    if kind is int:
        ok = _is_int(value)
        expected = "an integer"
    elif kind is bool:
        ok = isinstance(value, bool)
        expected = "true or false"
    elif kind is str:
        ok = isinstance(value, str)
        expected = "a string"
    elif kind is list:
        ok = isinstance(value, list)
        expected = "a list"
    else:
        ok = isinstance(value, dict)
        expected = "an object"
    if not ok:
        raise InvalidValue(f"{where}{key} must be {expected}, got {type(value).__name__}")
    return value


def template_from_json(obj: Any) -> Template:
    """Build a Template from its enterprise-API JSON object.

    Shape: ``{"prefix", "version", "industryCode", "carrierType",
    "description", "items": [{"name", "idType", "required", "index",
    "metadata": {"type", "minLength", "maxLength"}}], "created"}``. Only
    ``prefix``, ``version``, ``items`` and each item's ``name`` are required;
    absent or null fields take the :class:`Template` / :class:`TemplateItem`
    defaults; unknown keys are ignored. Only shapes and JSON types are
    checked here: call :func:`validate_template` on the result.

    Raises:
        InvalidValue (202): a wrong shape or type; the message names the
        field, e.g. ``template items[2].metadata.minLength must be an
        integer, got str``.
    """
    if not isinstance(obj, dict):
        raise InvalidValue(f"a template must be a JSON object, got {type(obj).__name__}")
    top = "template "
    prefix = _field(obj, "prefix", str, _MISSING, top)
    version = _field(obj, "version", str, _MISSING, top)
    raw_items = _field(obj, "items", list, _MISSING, top)
    items = []
    for position, raw in enumerate(raw_items):
        where = f"template items[{position}]."
        if not isinstance(raw, dict):
            raise InvalidValue(f"template items[{position}] must be an object, got {type(raw).__name__}")
        meta = _field(raw, "metadata", dict, {}, where)
        meta_where = f"{where}metadata."
        items.append(
            TemplateItem(
                name=_field(raw, "name", str, _MISSING, where),
                id_type=_field(raw, "idType", str, "string", where),
                required=_field(raw, "required", bool, False, where),
                metadata_type=_field(meta, "type", str, "string", meta_where),
                min_length=_field(meta, "minLength", int, 0, meta_where),
                max_length=_field(meta, "maxLength", int, 0, meta_where),
                index=_field(raw, "index", int, 0, where),
            )
        )
    return Template(
        prefix=prefix,
        version=version,
        items=tuple(items),
        industry_code=_field(obj, "industryCode", str, "", top),
        carrier_type=_field(obj, "carrierType", str, "", top),
        description=_field(obj, "description", str, "", top),
        created=_field(obj, "created", int, 0, top),
    )
