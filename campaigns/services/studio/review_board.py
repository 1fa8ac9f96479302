"""The review page: models side by side for each product, filters, and cost per approved copy.

Columns are the campaign's models; rows are template × variant × language. A cell that
does not match the filters stays in its place, empty, so the columns still line up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Max, Q, QuerySet, Sum

from campaigns.models import Attempt, Campaign, Generation, LLMModel, PromptTemplate, TemplateVersion

__all__ = [
    "PRODUCTS_PER_PAGE",
    "RATING_CHOICES",
    "CostTable",
    "ReviewBoard",
    "approved_cost_table",
    "generations_filter",
    "review_board",
    "review_counts",
]

PRODUCTS_PER_PAGE = 5
RATING_CHOICES = ("unrated", "1", "2", "3", "4", "5")
COST_PLACES = Decimal("1e-6")


def generations_filter(generations: QuerySet[Generation], filters: dict[str, Any]) -> QuerySet[Generation]:
    """``filters``: product / model (an id), status, rating ("unrated" or at least 1-5), approved (bool)."""
    if filters.get("product"):
        generations = generations.filter(product_id=filters["product"])
    if filters.get("model"):
        generations = generations.filter(model_id=filters["model"])
    if filters.get("status"):
        generations = generations.filter(status=filters["status"])
    rating = filters.get("rating")
    if rating == "unrated":
        generations = generations.filter(rating__isnull=True)
    elif rating:
        generations = generations.filter(rating__gte=int(rating))
    if filters.get("approved") is not None:
        generations = generations.filter(approved=filters["approved"])
    if filters.get("checks_passed") is not None:
        generations = generations.filter(checks_passed=filters["checks_passed"])
    return generations


@dataclass
class ReviewCell:
    model: LLMModel
    generation: Generation | None
    visible: bool


@dataclass
class ReviewRow:
    template: PromptTemplate
    variant: int
    language: str
    cells: list[ReviewCell]
    version: int | None = None  # the template version the copy was written with (None: before versions)
    latest_version: int | None = None  # the template's newest version

    @property
    def show_version(self) -> bool:
        """Worth showing once the template has been edited: with one version it says nothing."""
        return self.version is not None and (self.latest_version or 0) > 1


@dataclass
class ProductSection:
    product: Any
    rows: list[ReviewRow]


@dataclass
class ReviewBoard:
    models: list[LLMModel]
    sections: list[ProductSection]
    page: Page
    matched: int
    multilingual: bool
    variants: int


def _rows(
    generations: Sequence[Generation],
    models: list[LLMModel],
    visible: set[int],
    languages: Sequence[str],
    latest: dict[int, int],
) -> list[ReviewRow]:
    by_row: dict[tuple[int, int, str], dict[int, Generation]] = {}
    templates: dict[int, PromptTemplate] = {}
    for g in generations:
        templates[g.template_id] = g.template
        by_row.setdefault((g.template_id, g.variant, g.language), {})[g.model_id] = g
    order = {t_id: i for i, t_id in enumerate(sorted(templates, key=lambda t: (templates[t].name, t)))}
    lang_order = {lang: i for i, lang in enumerate(languages)}

    def row_key(item: tuple[tuple[int, int, str], Any]) -> tuple[int, int, int, str]:
        t_id, variant, language = item[0]
        return order[t_id], variant, lang_order.get(language, len(lang_order)), language

    rows = []
    for (t_id, variant, language), cells in sorted(by_row.items(), key=row_key):
        row = ReviewRow(templates[t_id], variant, language, [], latest_version=latest.get(t_id))
        for model in models:
            g = cells.get(model.id)
            row.cells.append(ReviewCell(model, g, g is not None and g.id in visible))
            if g is not None and g.template_version is not None and row.version is None:
                row.version = g.template_version.number
        if any(c.visible for c in row.cells):
            rows.append(row)
    return rows


def review_board(*, campaign: Campaign, filters: dict[str, Any], page_number: Any = 1) -> ReviewBoard:
    """The products (a page of them) with at least one generation matching ``filters``."""
    models = list(campaign.llm_models.select_related("provider").order_by("id"))
    if filters.get("model"):
        models = [m for m in models if m.id == filters["model"]]
    matching = generations_filter(campaign.generations.all(), filters)
    product_ids = list(
        campaign.products.filter(id__in=matching.values("product_id"))
        .order_by("name", "id")
        .values_list("id", flat=True)
    )
    page = Paginator(product_ids, PRODUCTS_PER_PAGE).get_page(page_number)
    ids = list(page.object_list)
    generations = list(
        campaign.generations.filter(product_id__in=ids, model__in=models)
        .select_related("product", "template", "template_version", "model", "served_by", "prompt")
        .order_by("id")
    )
    visible = set(matching.filter(product_id__in=ids).values_list("id", flat=True))
    by_product: dict[int, list[Generation]] = {}
    for g in generations:
        by_product.setdefault(g.product_id, []).append(g)
    latest = dict(
        TemplateVersion.objects.filter(template_id__in={g.template_id for g in generations})
        .values("template_id")
        .annotate(n=Max("number"))
        .values_list("template_id", "n")
    )
    sections = [
        ProductSection(
            by_product[pid][0].product, _rows(by_product[pid], models, visible, campaign.languages or [], latest)
        )
        for pid in ids
        if pid in by_product
    ]
    return ReviewBoard(
        models=models,
        sections=sections,
        page=page,
        matched=matching.count(),
        multilingual=bool(campaign.languages),
        variants=campaign.variants,
    )


def review_counts(*, campaign: Campaign) -> dict[str, Any]:
    counts: dict[str, Any] = campaign.generations.aggregate(
        total=Count("id"),
        succeeded=Count("id", filter=Q(status=Generation.Status.SUCCEEDED)),
        rated=Count("id", filter=Q(rating__isnull=False)),
        approved=Count("id", filter=Q(approved=True)),
        edited=Count("id", filter=~Q(edited_text="")),
        passing=Count("id", filter=Q(checks_passed=True)),
        failing_checks=Count("id", filter=Q(checks_passed=False)),
    )
    rewrites = Attempt.objects.filter(generation__campaign=campaign, rewrite__gt=0).aggregate(usd=Sum("cost_usd"))
    counts["rewrite_usd"] = rewrites["usd"] or Decimal(0)
    return counts


@dataclass
class CostTable:
    """Cost per approved copy: everything generated for a template and model ÷ copies approved."""

    models: list[LLMModel]
    rows: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)


def _per_approved(cost: Decimal, approved: int) -> Decimal | None:
    return (cost / approved).quantize(COST_PLACES, rounding=ROUND_HALF_UP) if approved else None


def approved_cost_table(*, campaign: Campaign) -> CostTable:
    models = list(campaign.llm_models.order_by("id"))
    templates = list(campaign.templates.order_by("name", "id"))
    groups = {
        (row["template_id"], row["model_id"]): row
        for row in campaign.generations.values("template_id", "model_id").annotate(
            cost=Sum("cost_usd"), approved=Count("id", filter=Q(approved=True)), n=Count("id"),
            passing=Count("id", filter=Q(checks_passed=True)),
        )
    }
    table = CostTable(models)
    empty = {"cost": Decimal(0), "approved": 0, "n": 0, "passing": 0}
    for template in templates:
        cells = []
        for model in models:
            g = groups.get((template.id, model.id), empty)
            cost = g["cost"] or Decimal(0)
            cells.append({
                "cost": cost, "approved": g["approved"], "per_approved": _per_approved(cost, g["approved"]),
                "passing": g["passing"], "per_passing": _per_approved(cost, g["passing"]),
            })
        table.rows.append((template.name, cells))
    totals = []
    for i in range(len(models)):
        cost = sum((row[1][i]["cost"] for row in table.rows), Decimal(0))
        approved = sum(row[1][i]["approved"] for row in table.rows)
        passing = sum(row[1][i]["passing"] for row in table.rows)
        totals.append({
            "cost": cost, "approved": approved, "per_approved": _per_approved(cost, approved),
            "passing": passing, "per_passing": _per_approved(cost, passing),
        })
    if len(templates) > 1:
        table.rows.append(("All templates", totals))
    return table
