"""Creating, launching and cancelling campaigns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import (
    ApiToken,
    Campaign,
    Generation,
    LLMModel,
    Product,
    Prompt,
    PromptTemplate,
    TemplateVersion,
)
from campaigns.services.access import campaign_act_check
from campaigns.services.budgets import QuotaRefusal, quota_check_launch
from campaigns.services.checks import banned_terms, cell_checks
from campaigns.services.errors import CampaignStateError, InvalidInput, QuotaExceeded, full_clean_or_invalid
from campaigns.services.matrix import Matrix, MatrixTooLarge
from campaigns.services.prices import prices_pin
from campaigns.services.signals import engine_signal
from campaigns.templating import TemplateRenderError, render_template

__all__ = [
    "campaign_cancel",
    "campaign_create",
    "campaign_launch",
    "languages_clean",
    "matrix_check",
    "messages_render",
    "messages_render_or_invalid",
    "models_active",
    "objects_by_ids",
    "product_context",
    "prompt_digest",
    "template_version_current",
    "templates_launchable",
]

def product_context(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "description": product.description,
        "attributes": product.attributes or {},
        "language": product.language,
    }


def template_version_current(template: PromptTemplate) -> TemplateVersion:
    """The version holding the template's current text (made if the text changed since the last)."""
    latest = template.versions.order_by("-number").first()
    text = (template.system_prompt, template.body, template.checks)
    if latest is not None and (latest.system_prompt, latest.body, latest.checks) == text:
        return latest
    return TemplateVersion.objects.create(
        template=template, number=(latest.number + 1) if latest else 1, name=template.name,
        system_prompt=template.system_prompt, body=template.body, checks=template.checks,
    )


def messages_render(
    *, template: PromptTemplate | TemplateVersion, product: Product, language: str = ""
) -> list[dict[str, str]]:
    """The chat messages of one cell: the system prompt (if any) and the rendered body.

    ``language`` overrides the product's own (a campaign written in several languages).
    A template that cannot be rendered (a limit, a missing attribute) is :class:`InvalidInput`
    naming the template and the reason.
    """
    context = product_context(product)
    language = language or product.language
    messages = []
    try:
        system = render_template(template.system_prompt, product=context, language=language, name=template.name)
        body = render_template(template.body, product=context, language=language, name=template.name)
    except TemplateRenderError as exc:
        raise InvalidInput("template_ids", f"template_ids: {exc.messages[0]}") from exc
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": body})
    return messages


def templates_launchable(templates: Sequence[PromptTemplate]) -> None:
    """Refuse templates marked as needing attention (kept unconverted by a migration), naming them."""
    for template in templates:
        if template.needs_attention:
            raise InvalidInput(
                "template_ids",
                f"template_ids: template '{template.name}' needs attention before it can be used: "
                f"{template.attention_reason}",
            )


def objects_by_ids(model: type[Any], ids: Sequence[int], field: str) -> list[Any]:
    """The objects ``ids`` name, in their order; an empty list or a missing id names ``field``."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise InvalidInput(field, f"{field} must name at least one")
    found = {obj.id: obj for obj in model.objects.filter(id__in=unique)}
    missing = [i for i in unique if i not in found]
    if missing:
        raise InvalidInput(field, f"{field}: no such id {', '.join(map(str, missing))}")
    return [found[i] for i in unique]


def models_active(models: Sequence[LLMModel], field: str = "model_ids") -> None:
    inactive = [m.name for m in models if not m.is_active]
    if inactive:
        raise InvalidInput(field, f"{field}: inactive model {', '.join(inactive)}")


def languages_clean(languages: Sequence[str]) -> list[str]:
    """Languages stripped, blanks dropped, each once, in order."""
    cleaned = list(dict.fromkeys(lang.strip() for lang in languages if lang.strip()))
    if any(len(lang) > 35 for lang in cleaned):
        raise InvalidInput("languages", "languages: each must be a language code or name of at most 35 characters")
    return cleaned


def matrix_check(matrix: Matrix[Any, Any, Any], *, changed: Collection[str] = ()) -> None:
    """A matrix over the cell limit is an InvalidInput naming the field that grew it."""
    try:
        matrix.check(changed=changed)
    except MatrixTooLarge as exc:
        raise InvalidInput(exc.field, exc.message) from exc


@transaction.atomic
def campaign_create(
    *,
    owner: AbstractBaseUser,
    name: str,
    product_ids: Sequence[int],
    template_ids: Sequence[int],
    model_ids: Sequence[int],
    variants: int = 1,
    languages: Sequence[str] = (),
    max_tokens: int = 256,
    temperature: float = 0.7,
    budget_usd: Decimal = Decimal("5"),
    rewrites: int = 1,
) -> Campaign:
    products = objects_by_ids(Product, product_ids, "product_ids")
    templates = objects_by_ids(PromptTemplate, template_ids, "template_ids")
    llm_models = objects_by_ids(LLMModel, model_ids, "model_ids")
    models_active(llm_models)
    languages = languages_clean(languages)
    matrix_check(Matrix(products, templates, llm_models, variants, languages))
    campaign = Campaign(
        owner=owner,  # type: ignore[misc]
        name=name,
        variants=variants,
        languages=languages,
        max_tokens=max_tokens,
        temperature=temperature,
        budget_usd=budget_usd,
        rewrites=rewrites,
    )
    full_clean_or_invalid(campaign, exclude=["owner"])
    campaign.save()
    campaign.products.set(products)
    campaign.templates.set(templates)
    campaign.template_versions.set([template_version_current(t) for t in templates])
    campaign.llm_models.set(llm_models)
    return campaign


@dataclass(frozen=True)
class _Plan:
    """What a launch writes, made before the write transaction: the campaign as it was read
    (``fingerprint``, checked again under the lock), each distinct prompt (by digest) and
    every cell as a row of column values whose prompt is still a digest."""

    fingerprint: tuple[Any, ...]
    prompts: dict[str, list[dict[str, str]]]
    rows: list[list[Any]]


def prompt_digest(messages: Sequence[dict[str, str]]) -> str:
    """The SHA-256 of ``messages`` as canonical JSON: the identity of a stored :class:`Prompt`."""
    canonical = json.dumps(list(messages), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _fingerprint(campaign: Campaign) -> tuple[Any, ...]:
    """What the rendered prompts depend on (a draft's matrix may change until it is launched)."""
    return (
        tuple(campaign.products.order_by("id").values_list("id", flat=True)),
        tuple(campaign.templates.order_by("id").values_list("id", flat=True)),
        tuple(campaign.template_versions.order_by("id").values_list("id", flat=True)),
        tuple(campaign.llm_models.order_by("id").values_list("id", flat=True)),
        campaign.variants,
        tuple(campaign.languages or ()),
    )


def _draft_or_error(campaign: Campaign) -> None:
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignStateError(f"campaign '{campaign.name}' is {campaign.status}; only a draft can be launched")


def _plan(campaign: Campaign) -> _Plan:
    """Read the campaign's matrix, render each distinct prompt once and prepare every cell's
    row (no write, no lock held: this is the slow part of a launch)."""
    fingerprint = _fingerprint(campaign)
    matrix = Matrix(
        products=list(campaign.products.all()),
        templates=list(campaign.templates.all()),
        models=list(campaign.llm_models.select_related("provider")),
        variants=campaign.variants,
        languages=list(campaign.languages or ()),
    )
    if not matrix.size:
        raise CampaignStateError(f"campaign '{campaign.name}' needs products, templates and models to launch")
    templates_launchable(list(matrix.templates))
    matrix_check(matrix)
    # The texts pinned when the campaign was created; later edits of a template don't apply.
    versions = {v.template_id: v for v in campaign.template_versions.all()}
    prompts: dict[str, list[dict[str, str]]] = {}
    digest_of: dict[tuple[int, int, str], str] = {}
    # Each cell's checks, pinned as the template's (version's) checks with its product's terms
    # rendered and the organisation's banned terms added; stored as database values.
    checks_of: dict[tuple[int, int, str], Any] = {}
    checks_field = Generation._meta.get_field("checks")
    banned = banned_terms()
    for product, template, language in matrix.prompts():
        source = versions.get(template.id) or template
        messages = messages_render_or_invalid(source, product, language)
        digest = prompt_digest(messages)
        prompts.setdefault(digest, messages)
        digest_of[(product.id, template.id, language)] = digest
        checks = cell_checks(
            source.checks, product=product_context(product), language=language or product.language, banned=banned
        )
        checks_of[(product.id, template.id, language)] = checks_field.get_db_prep_save(checks, connection)
    blank, at = _blank_row(campaign)
    rows = []
    for cell in matrix.cells():
        row = blank.copy()
        version = versions.get(cell.template.id)
        row[at["product_id"]], row[at["template_id"]] = cell.product.id, cell.template.id
        row[at["template_version_id"]] = version.id if version else None
        row[at["model_id"]], row[at["variant"]] = cell.model.id, cell.variant
        row[at["language"]] = cell.language or cell.product.language
        row[at["prompt_id"]] = digest_of[(cell.product.id, cell.template.id, cell.language)]
        row[at["checks"]] = checks_of[(cell.product.id, cell.template.id, cell.language)]
        rows.append(row)
    return _Plan(fingerprint, prompts, rows)


def _generation_columns() -> list[Any]:
    return [f for f in Generation._meta.concrete_fields if not f.primary_key]


def _blank_row(campaign: Campaign) -> tuple[list[Any], dict[str, int]]:
    """A queued generation of ``campaign`` as database values (defaults, the creation time), and
    the position of each column by attribute name."""
    blank = Generation(campaign_id=campaign.id)
    columns = _generation_columns()
    row = [f.get_db_prep_save(f.pre_save(blank, add=True), connection) for f in columns]
    return row, {f.attname: i for i, f in enumerate(columns)}


def messages_render_or_invalid(
    template: PromptTemplate | TemplateVersion, product: Product, language: str
) -> list[dict[str, str]]:
    """:func:`messages_render`; a template that cannot render is an InvalidInput naming it."""
    try:
        return messages_render(template=template, product=product, language=language)
    except ValidationError as exc:
        reason = "; ".join(exc.messages)
        raise InvalidInput(
            "template_ids", f"template_ids: template '{template.name}' cannot render for '{product.name}': {reason}"
        ) from exc


LAUNCH_INSERT_BATCH = 2000


def _write(campaign: Campaign, plan: _Plan) -> None:
    """Store each distinct prompt once, then every cell pointing at it (inside the launch
    transaction). The cells' rows were prepared before it: the lock is held for the inserts alone."""
    Prompt.objects.bulk_create(
        [Prompt(campaign=campaign, digest=d, messages=m) for d, m in plan.prompts.items()], batch_size=500
    )
    prompt_ids = dict(Prompt.objects.filter(campaign=campaign).values_list("digest", "id"))
    columns = _generation_columns()
    at = [f.attname for f in columns].index("prompt_id")
    for row in plan.rows:
        row[at] = prompt_ids[row[at]]
    quote = connection.ops.quote_name
    table, names = quote(Generation._meta.db_table), ", ".join(quote(f.column) for f in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # COPY: PostgreSQL's bulk load
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in plan.rows:
                    copy.write_row(row)
            return
        insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
        for start in range(0, len(plan.rows), LAUNCH_INSERT_BATCH):  # one statement, rows bound in C
            cursor.executemany(insert, plan.rows[start : start + LAUNCH_INSERT_BATCH])


def campaign_launch(*, campaign_id: int, actor: Any, token: ApiToken | None) -> Campaign:
    """Persist every generation of the campaign (queued), then wake the engine.

    The one way to launch, for every path (UI, API, websocket): ``actor`` is the signed-in
    user or the token's owner and must see the campaign; ``token`` is the API token they act
    with (None for a browser session), which needs the ``launch`` scope and whose quotas then
    apply too, the campaign's spend being reported under it.

    Prompts are rendered before the write transaction, so the database's write lock is held
    only for the inserts; the campaign's state is checked again under its row lock.
    """
    token = campaign_act_check(actor=actor, token=token, campaign_id=campaign_id, scope=ApiToken.Scope.LAUNCH)
    campaign = Campaign.objects.get(id=campaign_id)
    _draft_or_error(campaign)
    plan = _plan(campaign)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(id=campaign_id)
        _draft_or_error(campaign)  # launched by someone else meanwhile
        if _fingerprint(campaign) != plan.fingerprint:
            raise CampaignStateError(f"campaign '{campaign.name}' changed while it was launching; launch it again")
        campaign.launched_by_token = token
        try:
            quota_check_launch(campaign, timezone.now())
        except QuotaRefusal as exc:
            raise QuotaExceeded(exc.message) from exc
        _write(campaign, plan)
        prices_pin(campaign=campaign, models=list(campaign.llm_models.all()))  # every attempt is costed at these prices
        campaign.status = Campaign.Status.RUNNING
        campaign.launched_at = timezone.now()
        campaign.save(update_fields=["status", "launched_at", "launched_by_token"])
        transaction.on_commit(lambda: engine_signal("wake", campaign_id=campaign.id))
    return campaign


def campaign_cancel(*, campaign_id: int, actor: Any, token: ApiToken | None) -> Campaign:
    """Cancel queued cells now and stop the running ones (their partial text and cost are kept).

    Who may: as for :func:`campaign_launch` (a token needs the ``launch`` scope).
    """
    campaign_act_check(actor=actor, token=token, campaign_id=campaign_id, scope=ApiToken.Scope.LAUNCH)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(id=campaign_id)
        if campaign.status != Campaign.Status.RUNNING:
            raise CampaignStateError(f"campaign '{campaign.name}' is {campaign.status}; only a running one can be cancelled")
        now = timezone.now()
        campaign.generations.filter(status=Generation.Status.QUEUED).update(
            status=Generation.Status.CANCELLED, finished_at=now, error="cancelled before it started"
        )
        campaign.status = Campaign.Status.CANCELLED
        campaign.finished_at = now
        campaign.save(update_fields=["status", "finished_at"])
        transaction.on_commit(lambda: engine_signal("cancel", campaign_id=campaign.id))
    return campaign
