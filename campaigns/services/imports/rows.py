"""What an import produces, and reading a CSV file into numbered rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from campaigns.services.errors import InvalidInput
from campaigns.services.products import product_problems

__all__ = ["MAX_FILE_BYTES", "ImportRow", "ParsedImport", "RowError", "cell", "check_product", "read_table"]

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000


@dataclass
class ImportRow:
    """One product to create; ``row`` is its (first) line in the file."""

    row: int
    name: str
    description: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    language: str = "en"


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


@dataclass
class ParsedImport:
    format: str
    rows: list[ImportRow]
    errors: list[RowError]


def _decode(data: bytes) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput("file", f"file: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("file", f"file: not UTF-8 text (byte {exc.start}); export the sheet as CSV UTF-8") from None
    if "\x00" in text:
        raise InvalidInput("file", "file: contains NUL characters; is it really a CSV file?")
    return text


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """``(row number, cells)`` of each non-blank record; the header is row 1, as in a spreadsheet."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for number, cells in enumerate(reader, start=1):
            if any(cell.strip() for cell in cells):
                yield number, cells
    except csv.Error as exc:
        raise InvalidInput("file", f"file: line {reader.line_num}: {exc}") from None


def read_table(data: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the ``(row number, {column: cell})`` of every product row of a CSV file."""
    records = list(_records(_decode(data)))
    if not records:
        raise InvalidInput("file", "file: empty; expected a header row and product rows")
    (_, header), body = records[0], records[1:]
    if not body:
        raise InvalidInput("file", "file: a header but no product rows")
    if len(body) > MAX_ROWS:
        raise InvalidInput("file", f"file: {len(body)} rows; at most {MAX_ROWS} at once")
    header = [h.strip() for h in header]
    rows = [(line, {h: c.strip() for h, c in zip(header, cells, strict=False) if h}) for line, cells in body]
    return header, rows


def cell(row: dict[str, str], *names: str) -> str:
    for name in names:
        for key, value in row.items():
            if key.lower() == name.lower() and value:
                return value
    return ""


def check_product(item: ImportRow, errors: list[RowError], columns: dict[str, str]) -> bool:
    """Whether ``item`` keeps the product rules (the UI's, the API's); what does not is added to
    ``errors`` under the file's column for the field (``columns``: field -> column)."""
    before = len(errors)
    if not item.name:
        errors.append(RowError(item.row, columns.get("name", "name"), "a product needs a name"))
    problems = product_problems(
        name=item.name, description=item.description, attributes=item.attributes, language=item.language
    )
    for field_name, message in problems.items():
        errors.append(RowError(item.row, columns.get(field_name, field_name), message))
    return len(errors) == before
