"""The live campaign page: the matrix grid and its summary.

Rows are products; columns are template × model × variant (× language, when the
campaign names languages). Each cell's key is what the live page matches generations
on: ``product-template-model-variant`` (``-language`` when multilingual).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from campaigns.engine.status import GenerationStatus
from campaigns.models import Campaign, Generation, LLMModel, Product, PromptTemplate
from campaigns.services.matrix import Matrix
from campaigns.services.selectors import SNAPSHOT_LIMIT, campaign_stats, generation_dict
from campaigns.services.studio.dashboard import done_percent, spend_percent

__all__ = ["GRID_CELL_LIMIT", "Cell", "Column", "Grid", "Header", "campaign_grid", "campaign_summary", "model_labels"]

# The live page draws at most as many cells as the websocket snapshot carries.
GRID_CELL_LIMIT = SNAPSHOT_LIMIT
COUNTED_STATUSES = tuple(s.value for s in GenerationStatus)


@dataclass(frozen=True)
class Column:
    template: PromptTemplate
    model: LLMModel
    variant: int
    language: str | None


@dataclass
class Cell:
    key: str
    generation: dict[str, Any] | None
    served_by: str = ""

    @property
    def status(self) -> str:
        return self.generation["status"] if self.generation else "not-started"


@dataclass
class Row:
    product: Product
    cells: list[Cell]


@dataclass(frozen=True)
class Header:
    """One header cell spanning ``span`` columns."""

    label: str
    span: int
    title: str = ""


@dataclass
class Grid:
    matrix: Matrix[Product, PromptTemplate, LLMModel]
    columns: list[Column]
    rows: list[Row]

    @property
    def templates(self) -> list[PromptTemplate]:
        return list(self.matrix.templates)

    @property
    def models(self) -> list[LLMModel]:
        return list(self.matrix.models)

    @property
    def variants(self) -> int:
        return self.matrix.variants

    @property
    def languages(self) -> list[str]:
        return list(self.matrix.languages)

    @property
    def product_count(self) -> int:
        return len(self.matrix.products)

    @property
    def multilingual(self) -> bool:
        return bool(self.languages)

    @property
    def header_rows(self) -> list[tuple[str, list[Header]]]:
        """``(css class, headers)`` per header row, outermost axis first."""
        langs = max(1, len(self.languages))
        rows = [
            ("th-template", [Header(t.name, len(self.models) * self.variants * langs) for t in self.templates]),
            (
                "th-model",
                [
                    Header(m.label or m.name, self.variants * langs, f"{m.provider.name} · {m.name}")
                    for _ in self.templates
                    for m in self.models
                ],
            ),
        ]
        if self.variants > 1:
            rows.append(("th-variant", [Header(f"#{c.variant}", langs) for c in self.columns[::langs]]))
        if self.multilingual:
            rows.append(("th-language", [Header(c.language or "", 1) for c in self.columns]))
        return rows

    @property
    def cell_limit(self) -> int:
        return GRID_CELL_LIMIT

    @property
    def truncated(self) -> bool:
        return len(self.rows) < self.product_count

    @property
    def cell_count(self) -> int:
        return self.matrix.size


def model_labels() -> dict[int, str]:
    """Display names of every model, for cells written by a fallback model."""
    return {m.id: m.label or m.name for m in LLMModel.objects.all()}


def cell_key(*ids: int, language: str | None) -> str:
    key = "-".join(map(str, ids))
    return f"{key}-{language}" if language is not None else key


def campaign_grid(*, campaign: Campaign, labels: dict[int, str]) -> Grid:
    """The grid of ``campaign``, cut at :data:`GRID_CELL_LIMIT` cells (whole rows)."""
    matrix = Matrix(
        products=list(campaign.products.all()),
        templates=list(campaign.templates.all()),
        models=list(campaign.llm_models.select_related("provider")),
        variants=campaign.variants,
        languages=list(campaign.languages or []),
    )
    languages = list(matrix.languages)
    columns = [
        Column(t, m, v, lang)
        for t in matrix.templates
        for m in matrix.models
        for v in range(1, matrix.variants + 1)
        for lang in (languages or [None])
    ]
    shown = list(matrix.products[: max(1, GRID_CELL_LIMIT // max(1, matrix.columns_per_product))])
    multilingual = bool(languages)
    generations: dict[str, dict[str, Any]] = {}
    for g in campaign.generations.filter(product__in=[p.id for p in shown]):
        ids = (g.product_id, g.template_id, g.model_id, g.variant)
        generations[cell_key(*ids, language=g.language if multilingual else None)] = generation_dict(g)
    rows = []
    for product in shown:
        cells = []
        for c in columns:
            key = cell_key(product.id, c.template.id, c.model.id, c.variant, language=c.language)
            cell = Cell(key, generations.get(key))
            served_by = cell.generation and cell.generation.get("served_by_id")
            if served_by and served_by != c.model.id:
                cell.served_by = labels.get(served_by, "")
            cells.append(cell)
        rows.append(Row(product, cells))
    return Grid(matrix, columns, rows)


def campaign_summary(*, campaign: Campaign, grid: Grid) -> dict[str, Any]:
    """Progress, spend against the budget and latency percentiles, from the generations."""
    stats = campaign_stats(campaign)
    done = sum(stats[status] for status in Generation.TERMINAL)
    total = stats["total"] or grid.cell_count
    spend, budget = Decimal(stats["spend_usd"]), Decimal(stats["budget_usd"])
    return {
        **stats,
        "done": done,
        "total": total,
        "percent": done_percent(done, total),
        "spend": spend,
        "budget": budget,
        "spend_percent": spend_percent(spend, budget),
        "counts": [(name, stats[name]) for name in COUNTED_STATUSES],
    }
