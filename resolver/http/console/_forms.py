"""Identifier forms without I/O: template -> HTML input rules, form data -> values.

The browser checks what HTML can express (``required``, ``minlength``,
``maxlength``, ``type``, ``pattern``); the registry checks everything again
on write (``registry/templates.py`` :func:`check_values`) and its error is
put next to the field it names, in the page's language (``problems.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from idnode.registry.errors import HandleError, InvalidValue
from idnode.registry.model import Template, TemplateItem
from idnode.registry.values import (
    DEFAULT_PERMISSIONS,
    PERM_ADMIN_READ,
    PERM_ADMIN_WRITE,
    PERM_PUBLIC_READ,
    TEMPLATE_VERSION_INDEX,
    Value,
)

__all__ = [
    "FREE_ROWS",
    "Field",
    "Row",
    "fields_of",
    "free_rows",
    "values_from_free_form",
    "values_from_template_form",
    "with_admin",
]

FREE_ROWS = 3  # empty rows the free-form editor offers beyond the existing values
MAX_FREE_ROWS = 200
ADMIN_INDEX = 100  # where the console puts a new identifier's HS_ADMIN value (Handle's custom)
PRIVATE = PERM_ADMIN_READ | PERM_ADMIN_WRITE  # 1100: only the owner (and the node's admins) read it

# HTML input rules per metadata type: (input type, pattern, extra attributes). Patterns are written for the
# browsers' `v`-flag regular expressions (every '-' in a class escaped); the registry has the final word.
_INPUTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "string": ("text", "", {}),
    "number": ("text", r"[+\-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+\-]?[0-9]+)?", {"inputmode": "decimal"}),
    "integer": ("text", r"[+\-]?[0-9]+", {"inputmode": "numeric"}),
    "url": ("url", r"(?:[hH][tT][tT][pP][sS]?|[fF][tT][pP])://.+", {}),
    "date": ("date", "", {}),
    "datetime": (
        "text",
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:[Zz]|[+\-][0-9]{2}:?[0-9]{2})?",
        {},
    ),
    "gtin": ("text", r"[0-9]{8}|[0-9]{12,14}", {"inputmode": "numeric"}),
    "email": ("email", "", {}),
    "boolean": ("select", "", {}),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One input of a template-driven form."""

    position: int  # the item's place in the template: the input's name and id are f"item-{position}"
    name: str  # the value type the item governs
    item: TemplateItem
    input_type: str
    pattern: str
    attributes: tuple[tuple[str, str], ...]
    value: str = ""  # as entered, or the stored value's text
    public: bool = True
    error: str = ""

    @property
    def id(self) -> str:
        return f"item-{self.position}"


def fields_of(
    template: Template, entered: Mapping[str, str] | None = None, stored: Sequence[Value] = ()
) -> list[Field]:
    """The form's fields: values as ``entered`` (by field id) when given, else the ``stored`` values' text."""
    by_type = {v.type: v for v in stored}
    out = []
    for position, item in enumerate(template.items):
        input_type, pattern, extra = _INPUTS.get(item.metadata_type, _INPUTS["string"])
        attributes = dict(extra)
        if input_type not in ("date", "select"):
            if item.min_length:
                attributes["minlength"] = str(item.min_length)
            if item.max_length:
                attributes["maxlength"] = str(item.max_length)
        field = Field(position, item.name, item, input_type, pattern, tuple(sorted(attributes.items())))
        old = by_type.get(item.name)
        if entered is not None:
            field = dataclasses.replace(
                field, value=entered.get(field.id, ""), public=entered.get(field.id + "-private") != "on"
            )
        elif old is not None:
            field = dataclasses.replace(field, value=old.text, public=old.public_read)
        out.append(field)
    return out


def _free_index(used: set[int], start: int) -> int:
    index = max(start, 1)
    while index in used or index in (ADMIN_INDEX, TEMPLATE_VERSION_INDEX):
        index += 1
    return index


def _english(exc: HandleError) -> str:
    return exc.message


def _value(index: int, vtype: str, text: str, public: bool, old: Value | None) -> Value:
    if old is not None and old.public_read == public:
        permissions = old.permissions
    else:
        permissions = DEFAULT_PERMISSIONS if public else PRIVATE
        if old is not None:  # keep the old bits but public read
            permissions = (old.permissions | PERM_PUBLIC_READ) if public else (old.permissions & ~PERM_PUBLIC_READ)
    if old is not None:
        return Value(index, vtype, text.encode(), ttl=old.ttl, ttl_absolute=old.ttl_absolute, permissions=permissions)
    return Value(index, vtype, text.encode(), permissions=permissions)


def _kept(stored: Sequence[Value], governed: set[str]) -> list[Value]:
    """Stored values the form does not edit (HS_ADMIN and other HS_ values; types the form has no field for)."""
    return [v for v in stored if v.type not in governed and v.index != TEMPLATE_VERSION_INDEX]


def with_admin(values: list[Value], handle_prefix: str) -> list[Value]:
    """``values`` plus the HS_ADMIN of a new identifier (``300:<prefix>/ADMIN``) when it has none."""
    from idnode.registry.values import AdminData

    if any(v.type == "HS_ADMIN" for v in values) or any(v.index == ADMIN_INDEX for v in values):
        return values
    admin = Value(ADMIN_INDEX, "HS_ADMIN", AdminData(f"{handle_prefix}/ADMIN", 300), "admin", permissions=PRIVATE)
    return [*values, admin]


def values_from_template_form(
    template: Template,
    form: Mapping[str, str],
    stored: Sequence[Value] = (),
    word: Callable[[HandleError], str] = _english,
) -> tuple[list[Value], dict[str, str]]:
    """``(values, errors)`` of a submitted template form.

    Each non-empty field becomes a value of its item's type at the item's
    index (an item without a fixed index keeps its stored value's index, or
    takes the next free one); an empty field leaves its value out (the
    registry then reports a required item as missing). Stored values of
    other types (``HS_ADMIN``...) are kept unchanged. ``errors`` maps field
    ids to messages of values that cannot even be built (e.g. text over the
    registry's maximum), worded by ``word`` (default: the registry's English).
    """
    governed = {item.name for item in template.items}
    kept = _kept(stored, governed)
    by_type = {v.type: v for v in stored}
    used = {v.index for v in kept} | {item.index for item in template.items if item.index}
    values = list(kept)
    errors: dict[str, str] = {}
    for field in fields_of(template, form):
        text = field.value.strip()
        if not text:
            continue
        old = by_type.get(field.name)
        index = field.item.index or (old.index if old is not None and old.index not in used else _free_index(used, 1))
        used.add(index)
        try:
            values.append(_value(index, field.name, text, field.public, old))
        except InvalidValue as exc:
            errors[field.id] = word(exc)
    return sorted(values, key=lambda v: v.index), errors


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One row of the free-form value editor (a prefix without a template)."""

    number: int
    index: str = ""
    type: str = ""
    data: str = ""
    public: bool = True
    error: str = ""

    @property
    def id(self) -> str:
        return f"row-{self.number}"


def free_rows(stored: Sequence[Value] = (), form: Mapping[str, str] | None = None) -> list[Row]:
    """The editor's rows: as submitted (``form``), else the stored editable values plus :data:`FREE_ROWS` empty ones."""
    if form is not None:
        count = min(int(form.get("rows", "0") or 0) if str(form.get("rows", "0")).isdigit() else 0, MAX_FREE_ROWS)
        return [
            Row(
                n,
                form.get(f"row-{n}-index", ""),
                form.get(f"row-{n}-type", ""),
                form.get(f"row-{n}-data", ""),
                form.get(f"row-{n}-private") != "on",
            )
            for n in range(count)
        ]
    editable = [v for v in stored if _editable(v)]
    rows = [Row(n, str(v.index), v.type, v.text, v.public_read) for n, v in enumerate(editable)]
    return rows + [Row(len(rows) + n) for n in range(FREE_ROWS)]


def _editable(value: Value) -> bool:
    return value.format == "string" and not value.type.startswith("HS_") and value.index != TEMPLATE_VERSION_INDEX


def values_from_free_form(
    rows: Sequence[Row], stored: Sequence[Value] = (), word: Callable[[HandleError], str] = _english
) -> tuple[list[Value], dict[str, str]]:
    """``(values, errors)`` of the free-form editor: rows with a type become string values; stored values
    it does not show (HS_ADMIN, binary data) are kept. ``errors`` maps row ids to messages (``word``)."""
    values = [v for v in stored if not _editable(v)]
    by_index = {v.index: v for v in stored}
    used = {v.index for v in values}
    errors: dict[str, str] = {}
    for row in rows:
        if not row.type.strip() and not row.data.strip() and not row.index.strip():
            continue
        try:
            if not row.index.strip().isdigit() or not row.type.strip():
                raise InvalidValue(
                    "give an index (a positive whole number), a type and the data", problem="row_incomplete"
                )
            index = int(row.index)
            if index in used:
                raise InvalidValue(f"index {index} is used twice", problem="index_used_twice", params={"index": index})
            used.add(index)
            old = by_index.get(index)
            values.append(_value(index, row.type.strip(), row.data.strip(), row.public, old if old else None))
        except InvalidValue as exc:
            errors[row.id] = word(exc)
    return sorted(values, key=lambda v: v.index), errors
