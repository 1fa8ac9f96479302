"""What a campaign will cost: the worst case the engine reserves, and an expected cost.

Per cell (one prompt on one model, once per variant):

- **worst case** -- exactly what the engine reserves before the call: every prompt
  UTF-8 byte counted as a token plus 16 per message, and ``max_tokens`` out
  (:func:`campaigns.engine.costs.worst_case_usd`). A budget that covers it is never hit.
- **expected** -- input ≈ prompt bytes / 4 + 4 tokens per message (what English text
  averages with current tokenizers), output ≈ ``EXPECTED_OUTPUT_RATIO`` × ``max_tokens``:
  copy usually stops before the limit, and 0.6 is a planning assumption, not a
  measurement. Use it to compare models' prices for the same work.

Amounts are Decimals, rounded up to the money quantum per cell, like the engine's.

``compare_models`` adds the same campaign priced on every active model (up to
``MAX_COMPARED_MODELS``), cheapest expected cost first: what the campaign would cost if it
ran on that one model alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from campaigns.engine.costs import cost_usd, estimate_tokens, worst_case_input_tokens
from campaigns.models import Campaign, LLMModel, Product, PromptTemplate, TemplateVersion
from campaigns.services.launch import languages_clean, matrix_check, messages_render_or_invalid, objects_by_ids
from campaigns.services.matrix import Matrix

__all__ = ["EXPECTED_OUTPUT_RATIO", "MAX_COMPARED_MODELS", "campaign_estimate", "matrix_estimate", "models_compare"]

EXPECTED_OUTPUT_RATIO = Decimal("0.6")
MAX_COMPARED_MODELS = 200
EXPECTED_TOKENS_PER_MESSAGE = 4


@dataclass(frozen=True)
class _Prompt:
    worst_in: int
    expected_in: int


def _expected_input_tokens(messages: Sequence[dict[str, str]]) -> int:
    return sum(estimate_tokens(str(m.get("content", ""))) + EXPECTED_TOKENS_PER_MESSAGE for m in messages)


def _prompts(matrix: Matrix[Product, PromptTemplate | TemplateVersion, LLMModel]) -> list[_Prompt]:
    prompts = []
    for product, template, language in matrix.prompts():
        messages = messages_render_or_invalid(template, product, language)
        prompts.append(_Prompt(worst_case_input_tokens(messages), _expected_input_tokens(messages)))
    return prompts


def _model_row(model: LLMModel, prompts: Sequence[_Prompt], variants: int, max_tokens: int) -> dict[str, Any]:
    prices = {"input_usd_per_mtok": model.input_usd_per_mtok, "output_usd_per_mtok": model.output_usd_per_mtok}
    # The worst case, as the engine reserves it: every prompt token at the full input price
    # (or the cache-write price where writing the cache costs more).
    worst_prices = {**prices, "input_usd_per_mtok": max(model.input_usd_per_mtok, model.cache_write_usd_per_mtok or 0)}
    expected_out = min(max_tokens, math.ceil(EXPECTED_OUTPUT_RATIO * max_tokens))
    worst = sum((cost_usd(p.worst_in, max_tokens, **worst_prices) for p in prompts), Decimal(0)) * variants
    expected = sum((cost_usd(p.expected_in, expected_out, **prices) for p in prompts), Decimal(0)) * variants
    cells = len(prompts) * variants
    return {
        "model_id": model.id,
        "model": model.label or model.name,
        "cells": cells,
        "input_tokens_worst": sum(p.worst_in for p in prompts) * variants,
        "output_tokens_worst": max_tokens * cells,
        "input_tokens_expected": sum(p.expected_in for p in prompts) * variants,
        "output_tokens_expected": expected_out * cells,
        "worst_case_usd": worst,
        "expected_usd": expected,
        "price_source": model.price_source,
    }


def models_compare(prompts: Sequence[_Prompt], variants: int, max_tokens: int) -> list[dict[str, Any]]:
    """The campaign on each active model alone, cheapest expected cost first."""
    models = LLMModel.objects.filter(is_active=True).order_by("name", "id")[:MAX_COMPARED_MODELS]
    rows = [_model_row(model, prompts, variants, max_tokens) for model in models]
    return sorted(rows, key=lambda row: (row["expected_usd"], row["worst_case_usd"], row["model"], row["model_id"]))


def _estimate(
    *,
    products: Sequence[Product],
    templates: Sequence[PromptTemplate | TemplateVersion],
    models: Sequence[LLMModel],
    languages: Sequence[str],
    variants: int,
    max_tokens: int,
    compare_models: bool = False,
) -> dict[str, Any]:
    matrix = Matrix(products, templates, models, variants, languages)
    matrix_check(matrix)
    prompts = _prompts(matrix)
    rows = [_model_row(model, prompts, variants, max_tokens) for model in models]
    return {
        "comparison": models_compare(prompts, variants, max_tokens) if compare_models else None,
        "cells": matrix.size,
        "prompts": len(prompts),
        "max_tokens": max_tokens,
        "expected_output_ratio": EXPECTED_OUTPUT_RATIO,
        "worst_case_usd": sum((row["worst_case_usd"] for row in rows), Decimal(0)),
        "expected_usd": sum((row["expected_usd"] for row in rows), Decimal(0)),
        "budget_usd": None,
        "budget_covers_worst_case": None,
        "models": rows,
    }


def matrix_estimate(
    *,
    product_ids: Sequence[int],
    template_ids: Sequence[int],
    model_ids: Sequence[int],
    variants: int = 1,
    languages: Sequence[str] = (),
    max_tokens: int = 256,
    compare_models: bool = False,
    **_ignored: Any,
) -> dict[str, Any]:
    """The estimate of a campaign that does not exist yet (same rules as ``campaign_create``)."""
    return _estimate(
        compare_models=compare_models,
        products=objects_by_ids(Product, product_ids, "product_ids"),
        templates=objects_by_ids(PromptTemplate, template_ids, "template_ids"),
        models=objects_by_ids(LLMModel, model_ids, "model_ids"),
        languages=languages_clean(languages),
        variants=variants,
        max_tokens=max_tokens,
    )


def campaign_estimate(*, campaign: Campaign) -> dict[str, Any]:
    """The estimate of ``campaign`` as it stands (its pinned template texts), compared with its budget."""
    pinned = {v.template_id: v for v in campaign.template_versions.all()}
    estimate = _estimate(
        products=list(campaign.products.all()),
        templates=[pinned.get(t.id, t) for t in campaign.templates.all()],
        models=list(campaign.llm_models.all()),
        languages=languages_clean(campaign.languages or []),
        variants=campaign.variants,
        max_tokens=campaign.max_tokens,
    )
    estimate["budget_usd"] = campaign.budget_usd
    estimate["budget_covers_worst_case"] = campaign.budget_usd >= estimate["worst_case_usd"]
    return estimate
