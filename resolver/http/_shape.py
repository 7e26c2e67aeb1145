"""Check a decoded JSON request against the small JSON Schema subset its OpenAPI document declares.

The route modules describe each request body and query once, as a JSON
Schema dict that goes into ``/openapi.json`` unchanged, and check requests
with :func:`check` against the same dict, so the document and the checks
cannot drift apart. Only the keywords used there are understood: ``type``
(one name), ``properties``, ``required``, ``additionalProperties: false``,
``items``, ``minItems``, ``maxItems``, ``minLength``, ``maxLength``,
``minimum``, ``maximum``, ``enum``, ``pattern`` and ``oneOf``; every other
keyword (``description``, ``examples``, ...) is documentation. An empty
schema accepts any value.
"""

from __future__ import annotations

import re
from typing import Any

from idnode.registry.errors import ProtocolError

__all__ = ["ShapeError", "check"]

_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


class ShapeError(ProtocolError):
    """the request does not have the documented shape"""


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if name == "integer":  # JSON Schema: a number with a zero fractional part is an integer
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float))
    raise ValueError(f"schema type {name!r} is not supported")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    for name in ("boolean", "object", "array", "string", "integer", "number"):
        if _is_type(value, name):
            return name
    return type(value).__name__


def check(schema: dict[str, Any], value: Any, where: str = "body") -> Any:
    """Check ``value`` against ``schema``; return it with integral floats of integer fields made ints.

    Args:
        schema: a JSON Schema dict using only the keywords listed in the module docstring.
        value: the decoded JSON value (or a query string's text).
        where: how the value is named in messages (``body``, ``body[3].value[0].index``).

    Raises:
        ShapeError (code 4): the first mismatch, naming where it is, e.g.
        ``body.value[0].index must be an integer, got string``.
    """
    expected = schema.get("type")
    if expected is not None and not _is_type(value, expected):
        raise ShapeError(f"{where} must be {_TYPE_NAMES[expected]}, got {_kind(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise ShapeError(f"{where} must be one of {', '.join(map(str, schema['enum']))}, got {value!r}")
    if "oneOf" in schema:
        matched = []
        problems = []
        for branch in schema["oneOf"]:
            try:
                matched.append(check(branch, value, where))
            except ShapeError as exc:
                problems.append(exc.message)
        if len(matched) != 1:
            detail = "; ".join(problems) if not matched else "it matches more than one form"
            raise ShapeError(f"{where} has none of its documented forms ({detail})")
        value = matched[0]
    if expected == "integer" and isinstance(value, float):
        value = int(value)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise ShapeError(f"{where} must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ShapeError(f"{where} must have at most {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise ShapeError(f"{where} does not match {schema['pattern']}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise ShapeError(f"{where} must be at least {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ShapeError(f"{where} must be at most {schema['maximum']}, got {value}")
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise ShapeError(f"{where} must have at least {schema['minItems']} items, got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise ShapeError(f"{where} must have at most {schema['maxItems']} items, got {len(value)}")
        if "items" in schema:
            value = [check(schema["items"], item, f"{where}[{i}]") for i, item in enumerate(value)]
    elif isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise ShapeError(f"{where}.{name} is missing")
        if schema.get("additionalProperties") is False:
            unknown = sorted(set(value) - set(properties))
            if unknown:
                raise ShapeError(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}")
        value = {
            name: check(properties[name], item, f"{where}.{name}") if name in properties else item
            for name, item in value.items()
        }
    return value
