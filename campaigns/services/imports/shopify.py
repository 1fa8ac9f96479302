"""Shopify product exports: one product per Handle, its variants' option values collected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from campaigns.services.imports.html import html_to_text
from campaigns.services.imports.rows import ImportRow, ParsedImport, RowError, check_product
from campaigns.services.imports.rows import cell as _cell

__all__ = ["parse_shopify"]

# The product fields as the export's columns name them (for row errors).
COLUMNS = {"name": "Title", "description": "Body (HTML)", "attributes": "attributes", "language": "language"}

OPTIONS = (1, 2, 3)


@dataclass
class _ShopifyProduct:
    item: ImportRow
    handle: str
    option_names: dict[int, str]
    options: dict[str, list[str]]

    def add_options(self, row: dict[str, str]) -> None:
        for n, name in self.option_names.items():
            value = _cell(row, f"Option{n} Value")
            if value and not (name == "Title" and value == "Default Title"):
                values = self.options.setdefault(name, [])
                if value not in values:
                    values.append(value)


def _shopify_product(line: int, row: dict[str, str], language: str) -> _ShopifyProduct:
    attributes = {
        "handle": _cell(row, "Handle"),
        "vendor": _cell(row, "Vendor"),
        "type": _cell(row, "Type", "Product Type"),
        "tags": _cell(row, "Tags"),
    }
    item = ImportRow(
        row=line,
        name=_cell(row, "Title"),
        description=html_to_text(_cell(row, "Body (HTML)", "Body")),
        attributes={k: v for k, v in attributes.items() if v},
        language=_cell(row, "language") or language,
    )
    names = {n: _cell(row, f"Option{n} Name") for n in OPTIONS}
    product = _ShopifyProduct(item, attributes["handle"], {n: v for n, v in names.items() if v}, {})
    product.add_options(row)
    return product


def parse_shopify(rows: Sequence[tuple[int, dict[str, str]]], language: str) -> ParsedImport:
    products: list[_ShopifyProduct] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    current: _ShopifyProduct | None = None
    for line, row in rows:
        handle, title = _cell(row, "Handle"), _cell(row, "Title")
        if not handle:
            errors.append(RowError(line, "Handle", "every row needs the handle of its product"))
        elif title and handle in seen:
            errors.append(RowError(line, "Handle", f"handle '{handle}' already has a product on row {seen[handle]}"))
        elif title:
            current = _shopify_product(line, row, language)
            seen[handle] = line
            products.append(current)
        elif current is not None and current.handle == handle:
            current.add_options(row)
        else:
            errors.append(RowError(line, "Title", f"a product needs a title (no earlier row for handle '{handle}')"))
    items = []
    for product in products:
        if product.options:
            product.item.attributes["options"] = product.options
        if check_product(product.item, errors, COLUMNS):
            items.append(product.item)
    return ParsedImport("shopify", items, sorted(errors, key=lambda e: e.row))
