"""Views of the marketer UI: parse input, check access, call one service, render.

Pages: the dashboard, the product catalog, prompt templates (with a live preview), the
new campaign form and the live campaign page, whose grid the websocket then fills in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.deletion import ProtectedError
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from campaigns.forms import CampaignForm, ProductForm, PromptTemplateForm, usd, usd_short
from campaigns.models import Campaign, Generation, LLMModel, Product, PromptTemplate
from campaigns.services import launch
from campaigns.services.errors import DomainError, InvalidInput
from campaigns.services.selectors import SNAPSHOT_LIMIT, campaign_stats, campaigns_visible_to, generation_dict
from campaigns.templating import PRODUCT_FIELDS

PAGE_SIZE = 25
# The live page draws at most as many cells as the websocket snapshot carries.
GRID_CELL_LIMIT = SNAPSHOT_LIMIT
PREVIEW_PRODUCTS = 200
ATTRIBUTE_KEY_LIMIT = 24
DONE_STATUSES = tuple(Generation.TERMINAL)
COUNTED_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "skipped")


def _page(request: HttpRequest, items: QuerySet[Any]) -> Page:
    return Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))


# --- dashboard ----------------------------------------------------------------------------
def _m2m_count(through: Any) -> Coalesce:
    counts = through.objects.filter(campaign=OuterRef("pk")).values("campaign").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def _dashboard_campaigns(user: Any) -> QuerySet[Campaign]:
    return (
        campaigns_visible_to(user)
        .select_related("owner")
        .annotate(
            n_generations=Count("generations"),
            n_done=Count("generations", filter=Q(generations__status__in=DONE_STATUSES)),
            spend=Sum("generations__cost_usd"),
            n_products=_m2m_count(Campaign.products.through),
            n_templates=_m2m_count(Campaign.templates.through),
            n_models=_m2m_count(Campaign.llm_models.through),
        )
        .order_by("-created_at", "-id")
    )


def _dashboard_row(campaign: Any) -> dict[str, Any]:
    languages = max(1, len(campaign.languages or []))
    planned = campaign.n_products * campaign.n_templates * campaign.n_models * campaign.variants * languages
    total = campaign.n_generations or planned
    return {
        "campaign": campaign,
        "done": campaign.n_done,
        "total": total,
        "percent": 100 * campaign.n_done // total if total else 0,
        "spend": usd(campaign.spend),
        "budget": usd_short(campaign.budget_usd),
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    page = _page(request, _dashboard_campaigns(request.user))
    rows = [_dashboard_row(c) for c in page.object_list]
    return render(request, "campaigns/dashboard.html", {"page": page, "rows": rows})


# --- products -----------------------------------------------------------------------------
@login_required
def product_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    products = Product.objects.all()
    if q:
        products = products.filter(Q(name__icontains=q) | Q(description__icontains=q))
    return render(request, "campaigns/product_list.html", {"page": _page(request, products), "q": q})


def _product_form(request: HttpRequest, product: Product | None) -> HttpResponse:
    form = ProductForm(request.POST, instance=product) if request.method == "POST" else None
    if form is not None and form.is_valid():
        saved = form.save(commit=False)
        if product is None:
            saved.owner = request.user
        saved.save()
        messages.success(request, f"Product “{saved.name}” {'created' if product is None else 'saved'}.")
        return redirect("campaigns:product_list")
    form = form or ProductForm(instance=product)
    return render(request, "campaigns/product_form.html", {"form": form, "product": product})


@login_required
def product_create(request: HttpRequest) -> HttpResponse:
    return _product_form(request, None)


@login_required
def product_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _product_form(request, get_object_or_404(Product, pk=pk))


@login_required
def product_delete(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    if request.method != "POST":
        used_in = product.campaigns.count()
        return render(request, "campaigns/product_confirm_delete.html", {"product": product, "used_in": used_in})
    try:
        product.delete()
    except ProtectedError:
        messages.error(request, f"“{product.name}” has generated copy in a campaign and cannot be deleted.")
        return redirect("campaigns:product_list")
    messages.success(request, f"Product “{product.name}” deleted.")
    return redirect("campaigns:product_list")


# --- templates ----------------------------------------------------------------------------
@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    page = _page(request, PromptTemplate.objects.all())
    return render(request, "campaigns/template_list.html", {"page": page})


def _attribute_keys() -> list[str]:
    keys: set[str] = set()
    for attributes in Product.objects.values_list("attributes", flat=True)[:500]:
        if isinstance(attributes, dict):
            keys.update(str(k) for k in attributes if str(k).isidentifier())
    return sorted(keys)[:ATTRIBUTE_KEY_LIMIT]


def _template_variables() -> list[dict[str, str]]:
    described = {
        "name": "the product name",
        "description": "the product description",
        "attributes": "all attributes (use in a {% for %} loop with .items)",
        "language": "the product language",
    }
    variables = [{"name": f"product.{f}", "help": described[f]} for f in PRODUCT_FIELDS]
    variables += [{"name": f"product.attributes.{k}", "help": "one attribute"} for k in _attribute_keys()]
    variables.append({"name": "language", "help": "the product language (same as product.language)"})
    return variables


def _template_form(request: HttpRequest, template: PromptTemplate | None) -> HttpResponse:
    form = PromptTemplateForm(request.POST, instance=template) if request.method == "POST" else None
    if form is not None and form.is_valid():
        saved = form.save(commit=False)
        if template is None:
            saved.owner = request.user
        saved.save()
        messages.success(request, f"Template “{saved.name}” {'created' if template is None else 'saved'}.")
        return redirect("campaigns:template_list")
    context = {
        "form": form or PromptTemplateForm(instance=template),
        "template_obj": template,
        "variables": _template_variables(),
        "products": Product.objects.all()[:PREVIEW_PRODUCTS],
    }
    return render(request, "campaigns/template_form.html", context)


@login_required
def template_create(request: HttpRequest) -> HttpResponse:
    return _template_form(request, None)


@login_required
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _template_form(request, get_object_or_404(PromptTemplate, pk=pk))


@login_required
@require_POST
def template_preview(request: HttpRequest) -> JsonResponse:
    """The chat messages ``system_prompt`` and ``body`` render to for one product."""
    template = PromptTemplate(system_prompt=request.POST.get("system_prompt", ""), body=request.POST.get("body", ""))
    try:
        template.clean()
    except ValidationError as exc:
        field, errors = next(iter(exc.message_dict.items()))
        return JsonResponse({"error": errors[0], "field": field}, status=400)
    product_id = request.POST.get("product_id", "")
    product = Product.objects.filter(pk=product_id).first() if product_id.isdigit() else None
    if product is None:
        return JsonResponse({"error": "choose a product to preview with", "field": "product_id"}, status=400)
    return JsonResponse({"messages": launch.messages_render(template=template, product=product)})


# --- campaigns ----------------------------------------------------------------------------
@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            campaign = launch.campaign_create(owner=request.user, **form.service_kwargs())
        except InvalidInput as exc:
            form.add_service_error(exc.field, exc.message)
        else:
            messages.success(request, f"Campaign “{campaign.name}” created. Launch it when you are ready.")
            return redirect("campaigns:campaign_detail", pk=campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form})


@dataclass(frozen=True)
class Column:
    template: PromptTemplate
    model: LLMModel
    variant: int


@dataclass
class Cell:
    key: str
    generation: dict[str, Any] | None
    served_by: str = ""

    @property
    def status(self) -> str:
        return self.generation["status"] if self.generation else "not-started"

    @property
    def cost(self) -> str:
        return usd(self.generation["cost_usd"]) if self.generation else ""


@dataclass
class Row:
    product: Product
    language: str
    cells: list[Cell]


@dataclass
class Grid:
    """Rows are products (× languages, when the campaign names some); columns are
    template × model × variant. Each cell's key is what the live page matches
    generations on: ``product-template-model-variant`` (``-language`` if several)."""

    templates: list[PromptTemplate]
    models: list[LLMModel]
    variants: int
    multilingual: bool
    columns: list[Column]
    rows: list[Row]
    row_count: int
    product_count: int

    @property
    def template_span(self) -> int:
        return len(self.models) * self.variants

    @property
    def model_headers(self) -> list[LLMModel]:
        return [m for _ in self.templates for m in self.models]

    @property
    def cell_limit(self) -> int:
        return GRID_CELL_LIMIT

    @property
    def truncated(self) -> bool:
        return len(self.rows) < self.row_count

    @property
    def cell_count(self) -> int:
        return self.row_count * len(self.columns)


def model_labels() -> dict[int, str]:
    """Display names of every model, for cells written by a fallback model."""
    return {m.id: m.label or m.name for m in LLMModel.objects.all()}


def _cell_key(*ids: int, language: str | None) -> str:
    key = "-".join(map(str, ids))
    return f"{key}-{language}" if language is not None else key


def _grid(campaign: Campaign, labels: dict[int, str]) -> Grid:
    products = list(campaign.products.all())
    templates = list(campaign.templates.all())
    models = list(campaign.llm_models.select_related("provider"))
    columns = [Column(t, m, v) for t in templates for m in models for v in range(1, campaign.variants + 1)]
    multilingual = bool(campaign.languages)
    specs = [(p, lang) for p in products for lang in (campaign.languages or [p.language])]
    shown = specs[: max(1, GRID_CELL_LIMIT // max(1, len(columns)))]
    generations: dict[str, dict[str, Any]] = {}
    for g in campaign.generations.filter(product__in={p.id for p, _ in shown}):
        ids = (g.product_id, g.template_id, g.model_id, g.variant)
        generations[_cell_key(*ids, language=g.language if multilingual else None)] = generation_dict(g)
    rows = []
    for product, language in shown:
        keys = [
            _cell_key(product.id, c.template.id, c.model.id, c.variant, language=language if multilingual else None)
            for c in columns
        ]
        cells = [Cell(k, generations.get(k)) for k in keys]
        for cell, column in zip(cells, columns, strict=True):
            served_by = cell.generation and cell.generation.get("served_by_id")
            if served_by and served_by != column.model.id:
                cell.served_by = labels.get(served_by, "")
        rows.append(Row(product, language, cells))
    return Grid(templates, models, campaign.variants, multilingual, columns, rows, len(specs), len(products))


def _summary(campaign: Campaign, grid: Grid) -> dict[str, Any]:
    stats = campaign_stats(campaign)
    done = stats["succeeded"] + stats["failed"] + stats["cancelled"] + stats["skipped"]
    total = stats["total"] or grid.cell_count
    spend, budget = Decimal(stats["spend_usd"]), Decimal(stats["budget_usd"])
    return {
        **stats,
        "done": done,
        "total": total,
        "percent": 100 * done // total if total else 0,
        "spend": usd(spend),
        "budget": usd_short(budget),
        "spend_percent": min(100, round(100 * spend / budget)) if budget else 0,
        "counts": [(name, stats[name]) for name in COUNTED_STATUSES],
    }


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(campaigns_visible_to(request.user).select_related("owner"), pk=pk)
    labels = model_labels()
    grid = _grid(campaign, labels)
    context = {"campaign": campaign, "grid": grid, "summary": _summary(campaign, grid), "model_labels": labels}
    return render(request, "campaigns/campaign_detail.html", context)


def _campaign_action(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    """The same launch/cancel the websocket offers, for a browser without scripts."""
    campaign = get_object_or_404(campaigns_visible_to(request.user), pk=pk)
    try:
        action(campaign_id=campaign.pk)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Campaign “{campaign.name}” {done}.")
    return redirect("campaigns:campaign_detail", pk=campaign.pk)


@login_required
@require_POST
def campaign_launch(request: HttpRequest, pk: int) -> HttpResponse:
    return _campaign_action(request, pk, launch.campaign_launch, "launched")


@login_required
@require_POST
def campaign_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _campaign_action(request, pk, launch.campaign_cancel, "cancelled")
