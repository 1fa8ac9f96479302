"""Importing products from CSV: a Shopify product export, or a simple sheet.

:func:`import_parse` is pure (bytes in, rows and errors out) so the UI can show a preview;
:func:`products_import` saves parsed rows, all or nothing.

**Shopify** (header has ``Handle`` and ``Title``): one product per handle. Its first row
carries Title, Body (HTML), Vendor, Type (or Product Type), Tags and the option names;
the following rows with the same Handle and no Title are its variants (or extra images),
whose ``OptionN Value`` cells are collected. The product becomes ``name`` = Title,
``description`` = the body as plain text, ``attributes`` = ``{handle, vendor, type, tags,
options: {name: [values]}}`` (empty ones left out; Shopify's placeholder option
"Title: Default Title" too) and ``language`` = the ``language`` argument.

**Simple** (header has ``name``): columns ``name``, ``description``, ``language``,
``attributes`` (a JSON object); every other non-empty column becomes an attribute.

Rows are numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from campaigns.models import Product
from campaigns.services.errors import DomainError, InvalidInput
from campaigns.services.imports.html import html_to_text
from campaigns.services.imports.rows import MAX_FILE_BYTES, ImportRow, ParsedImport, RowError, read_table
from campaigns.services.imports.shopify import parse_shopify
from campaigns.services.imports.simple import parse_simple

__all__ = [
    "ImportRejected",
    "ImportResult",
    "ImportRow",
    "MAX_FILE_BYTES",
    "ParsedImport",
    "RowError",
    "html_to_text",
    "import_parse",
    "products_import",
]


class ImportRejected(DomainError):
    """The file has errors; nothing was saved. ``errors`` lists them row by row."""

    status_code = 422
    field = "file"

    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__(f"file: {len(errors)} error(s) in the rows; nothing was imported")
        self.errors = list(errors)


def import_parse(data: bytes, *, language: str = "en") -> ParsedImport:
    """Read a CSV file into products and row errors; raises InvalidInput for an unreadable file."""
    header, rows = read_table(data)
    columns = {h.lower() for h in header}
    if {"handle", "title"} <= columns:
        return parse_shopify(rows, language)
    if "name" in columns:
        return parse_simple(rows, language)
    raise InvalidInput(
        "file",
        "file: unrecognised header; expected a Shopify product export (Handle, Title, Body (HTML), …) "
        "or a sheet with a 'name' column (and description, language, attributes)",
    )


@dataclass
class ImportResult:
    """The saved products, in the file's order, and how many of them were new."""

    products: list[Product]
    created: int
    updated: int


@transaction.atomic
def products_import(*, parsed: ParsedImport, owner: AbstractBaseUser | None) -> ImportResult:
    """Save every product of ``parsed``, or none if it has any error.

    A Shopify product whose handle is already in the catalog is updated in place (name,
    description, attributes, language), so importing a fresh export again changes the
    catalog instead of doubling it; everything else is created.
    """
    if parsed.errors:
        raise ImportRejected(parsed.errors)
    handles = [item.attributes["handle"] for item in parsed.rows if parsed.format == "shopify"]
    existing: dict[str, Product] = {}
    if handles:
        for product in Product.objects.filter(attributes__handle__in=handles).order_by("id"):
            existing[product.attributes["handle"]] = product  # the newest one, if doubled earlier
    now = timezone.now()
    new: list[Product] = []
    changed: list[Product] = []
    saved: list[Product] = []
    for item in parsed.rows:
        product = existing.get(item.attributes.get("handle", "")) if handles else None
        if product is None:
            product = Product(owner=owner)  # type: ignore[misc]
            new.append(product)
        else:
            product.updated_at = now  # bulk_update does not touch auto_now fields
            changed.append(product)
        product.name, product.description = item.name, item.description
        product.attributes, product.language = item.attributes, item.language
        saved.append(product)
    Product.objects.bulk_create(new, batch_size=500)
    if changed:
        Product.objects.bulk_update(
            changed, ["name", "description", "attributes", "language", "updated_at"], batch_size=500
        )
    return ImportResult(saved, created=len(new), updated=len(changed))
