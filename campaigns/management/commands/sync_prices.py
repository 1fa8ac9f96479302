from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from campaigns.services.price_catalog import PRICE_FIELDS, catalog_source, prices_sync

SHORT = {
    "input_usd_per_mtok": "input",
    "cached_input_usd_per_mtok": "cached",
    "cache_write_usd_per_mtok": "cache write",
    "output_usd_per_mtok": "output",
}


def _fmt(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


class Command(BaseCommand):
    help = (
        "Compare the models' prices with the built-in price catalog (genai-prices, read from the installed "
        "package, never fetched); --apply writes the catalog's prices. Campaigns already launched keep the "
        "prices they pinned."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--apply", action="store_true", help="write the catalog's prices (default: dry run)")
        parser.add_argument("--model", type=int, action="append", dest="model_ids", help="only this model id")

    def handle(self, *args: Any, **opts: Any) -> None:
        changes = prices_sync(apply=opts["apply"], model_ids=opts["model_ids"])
        rows = [("model", "provider", "price", "now", "catalog")]
        for change in changes:
            for name in PRICE_FIELDS:
                old, new = change.old[name], change.new[name]
                if old != new:
                    rows.append((change.model.name, change.model.provider.name, SHORT[name], _fmt(old), _fmt(new)))
        if len(rows) > 1:
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            for row in rows:
                self.stdout.write(
                    "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                )
        changed = sum(1 for c in changes if c.changed)
        verb = "repriced" if opts["apply"] else "would be repriced"
        self.stdout.write(
            f"{changed} model(s) {verb} from {catalog_source()}; {len(changes) - changed} already match; "
            "models the catalog does not know keep their manual prices."
        )
        if changed and not opts["apply"]:
            self.stdout.write("Dry run: nothing written. Run with --apply to write these prices.")
