"""Creating, launching and cancelling campaigns."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from campaigns.models import ApiToken, Campaign, Generation, LLMModel, Product, PromptTemplate, TemplateVersion
from campaigns.services.access import campaign_act_check
from campaigns.services.budgets import QuotaRefusal, quota_check_launch
from campaigns.services.checks import banned_terms, cell_checks
from campaigns.services.errors import CampaignStateError, InvalidInput, QuotaExceeded, full_clean_or_invalid
from campaigns.services.signals import engine_signal
from campaigns.templating import TemplateRenderError, render_template

__all__ = [
    "campaign_cancel",
    "cells_check",
    "campaign_create",
    "campaign_launch",
    "languages_clean",
    "messages_render",
    "models_active",
    "objects_by_ids",
    "product_context",
    "template_version_current",
    "templates_launchable",
]

MAX_CELLS = 200_000


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


def cells_check(cells: int) -> None:
    if cells > MAX_CELLS:
        raise InvalidInput("variants", f"the campaign would have {cells} cells; the limit is {MAX_CELLS}")


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
    cells_check(len(products) * len(templates) * len(llm_models) * variants * max(1, len(languages)))
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


def campaign_launch(*, campaign_id: int, actor: Any, token: ApiToken | None) -> Campaign:
    """Persist every generation of the campaign (queued), then wake the engine.

    The one way to launch, for every path (UI, API, websocket): ``actor`` is the signed-in
    user or the token's owner and must see the campaign; ``token`` is the API token they act
    with (None for a browser session), which needs the ``launch`` scope and whose quotas then
    apply too, the campaign's spend being reported under it.
    """
    token = campaign_act_check(actor=actor, token=token, campaign_id=campaign_id, scope=ApiToken.Scope.LAUNCH)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(id=campaign_id)
        if campaign.status != Campaign.Status.DRAFT:
            raise CampaignStateError(f"campaign '{campaign.name}' is {campaign.status}; only a draft can be launched")
        campaign.launched_by_token = token
        try:
            quota_check_launch(campaign, timezone.now())
        except QuotaRefusal as exc:
            raise QuotaExceeded(exc.message) from exc
        products = list(campaign.products.all())
        templates = list(campaign.templates.all())
        llm_models = list(campaign.llm_models.select_related("provider"))
        if not (products and templates and llm_models):
            raise CampaignStateError(f"campaign '{campaign.name}' needs products, templates and models to launch")
        templates_launchable(templates)
        rows = []
        languages = campaign.languages or [""]
        # The texts pinned when the campaign was created; later edits of a template don't apply.
        pinned = {v.template_id: v for v in campaign.template_versions.all()}
        banned = banned_terms()
        for product in products:
            for template in templates:
                version = pinned.get(template.id)
                for language in languages:
                    messages = messages_render(template=version or template, product=product, language=language)
                    checks = cell_checks(
                        (version or template).checks, product=product_context(product),
                        language=language or product.language, banned=banned,
                    )
                    for model in llm_models:
                        for variant in range(1, campaign.variants + 1):
                            rows.append(
                                Generation(
                                    campaign=campaign,
                                    product=product,
                                    template=template,
                                    template_version=version,
                                    model=model,
                                    variant=variant,
                                    language=language or product.language,
                                    messages=messages,
                                    checks=checks,
                                )
                            )
        Generation.objects.bulk_create(rows, batch_size=1000)
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
