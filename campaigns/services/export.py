"""Exporting a campaign's copy as CSV, JSON or an Excel workbook.

Every format has the same columns (:data:`COLUMNS`). ``text`` is the final text (the
reviewer's edit, else what the model wrote); ``original_text`` is always what the model
wrote. CSV cells that a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) are prefixed with ``'``; JSON and xlsx carry
the text verbatim (xlsx cells are typed as text, never formulas).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from campaigns.models import Campaign, Generation

__all__ = ["COLUMNS", "CONTENT_TYPES", "export_csv", "export_json", "export_rows", "export_xlsx"]

COLUMNS = (
    "id",
    "product",
    "template",
    "model",
    "served_by",
    "variant",
    "language",
    "status",
    "text",
    "original_text",
    "rating",
    "approved",
    "checks_passed",
    "check_failures",
    "tokens_in",
    "tokens_out",
    "tokens_cached",
    "tokens_reasoning",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
)
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_CELL_LIMIT = 32767  # characters in one Excel cell


def _row(g: Generation) -> dict[str, Any]:
    return {
        "id": g.id,
        "product": g.product.name,
        "template": g.template.name,
        "model": str(g.model),
        "served_by": str(g.served_by) if g.served_by_id else "",
        "variant": g.variant,
        "language": g.language,
        "status": g.status,
        "text": g.final_text,
        "original_text": g.text,
        "rating": g.rating,
        "approved": g.approved,
        "checks_passed": g.checks_passed,
        "check_failures": " | ".join(g.check_failures or []),
        "tokens_in": g.tokens_in,
        "tokens_out": g.tokens_out,
        "tokens_cached": g.tokens_cached,
        "tokens_reasoning": g.tokens_reasoning,
        "cost_usd": g.cost_usd,
        "latency_ms": g.latency_ms,
        "ttft_ms": g.ttft_ms,
    }


def export_rows(*, campaign: Campaign, approved_only: bool = False) -> list[dict[str, Any]]:
    """One row per generation of ``campaign`` (only approved ones if asked), in id order."""
    generations = campaign.generations.select_related("product", "template", "model", "served_by").order_by("id")
    if approved_only:
        generations = generations.filter(approved=True)
    return [_row(g) for g in generations.iterator(chunk_size=2000)]


def _money(value: Decimal) -> str:
    """``Decimal("0.0001230000")`` -> ``"0.000123"``."""
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", ""} else text


def _csv_cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _money(value)
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read accents right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_csv_cell(row[c]) for c in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_json(rows: Sequence[dict[str, Any]], *, campaign: Campaign) -> bytes:
    items = [{**row, "cost_usd": _money(row["cost_usd"])} for row in rows]
    body = {"campaign_id": campaign.id, "campaign": campaign.name, "rows": items}
    return json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False).encode("utf-8")


def export_xlsx(rows: Sequence[dict[str, Any]], *, campaign: Campaign) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="copy")
    sheet.append(list(COLUMNS))
    for row in rows:
        cells = [WriteOnlyCell(sheet, value=_xlsx_value(row[column])) for column in COLUMNS]
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # a number the spreadsheet can sum
    if isinstance(value, str):
        cleaned = "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 32)
        return cleaned[:XLSX_CELL_LIMIT]
    return value
