"""Simple sheets: name, description, language, attributes (JSON) and extra columns as attributes."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from campaigns.services.imports.rows import ImportRow, ParsedImport, RowError, check_lengths
from campaigns.services.imports.rows import cell as _cell

__all__ = ["parse_simple"]

KNOWN_COLUMNS = {"name", "description", "language", "attributes"}


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not a number JSON can store")


def _json_attributes(text: str) -> dict[str, Any]:
    value = json.loads(text, parse_constant=_reject_constant)
    if not isinstance(value, dict):
        raise ValueError("a JSON object ({...}) is required")
    _check_json(value)
    return value


def _check_json(value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json(key)
            _check_json(item)
    elif isinstance(value, list):
        for item in value:
            _check_json(item)


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
    return item if check_lengths(item, errors, "name") else None


def parse_simple(rows: Sequence[tuple[int, dict[str, str]]], language: str) -> ParsedImport:
    errors: list[RowError] = []
    items = [item for line, row in rows if (item := _simple_row(line, row, language, errors)) is not None]
    return ParsedImport("simple", items, errors)
