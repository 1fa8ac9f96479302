"""Simple sheets: name, description, language, attributes (JSON) and extra columns as attributes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from campaigns.services.imports.rows import ImportRow, ParsedImport, RowError, check_product
from campaigns.services.imports.rows import cell as _cell
from campaigns.services.products import MAX_ATTRIBUTES_DEPTH, json_too_deep

__all__ = ["parse_simple"]

KNOWN_COLUMNS = {"name", "description", "language", "attributes"}


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not a number JSON can store")


def _json_attributes(text: str) -> dict[str, Any]:
    """The cell's JSON object (what it may hold is checked with the rest of the product)."""
    if json_too_deep(text, MAX_ATTRIBUTES_DEPTH):
        raise ValueError(f"nested more than {MAX_ATTRIBUTES_DEPTH} levels deep")
    value = json.loads(text, parse_constant=_reject_constant)
    if not isinstance(value, dict):
        raise ValueError("a JSON object ({...}) is required")
    return value


def _simple_row(line: int, row: dict[str, str], language: str, errors: list[RowError]) -> ImportRow | None:
    attributes: dict[str, Any] = {}
    raw = _cell(row, "attributes")
    if raw:
        try:
            attributes = _json_attributes(raw)
        except (ValueError, RecursionError) as exc:
            errors.append(RowError(line, "attributes", f"not a JSON object: {exc}"))
            return None
    attributes.update({k: v for k, v in row.items() if k.lower() not in KNOWN_COLUMNS and v})
    item = ImportRow(
        row=line,
        name=_cell(row, "name"),
        description=_cell(row, "description"),
        attributes=attributes,
        language=_cell(row, "language") or language,
    )
    return item if check_product(item, errors, {}) else None


def parse_simple(rows: Sequence[tuple[int, dict[str, str]]], language: str) -> ParsedImport:
    errors: list[RowError] = []
    items = [item for line, row in rows if (item := _simple_row(line, row, language, errors)) is not None]
    return ParsedImport("simple", items, errors)
