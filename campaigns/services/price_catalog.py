"""The built-in price catalog: model prices from the ``genai-prices`` package.

The package's data ships in its wheel; copygen reads only that bundled snapshot and never
starts the package's background updater, so no price data is ever fetched over the network.
A provider's ``kind`` says where to look a model up; self-hosted kinds (vLLM, Ollama,
llama.cpp) and ``other`` have no catalog prices: their models are priced by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib.metadata import version
from typing import Any

from django.db import transaction
from django.utils import timezone

from campaigns.models import LLMModel, Provider

__all__ = [
    "CATALOG_PROVIDERS",
    "PRICE_FIELDS",
    "CatalogEntry",
    "PriceChange",
    "catalog_lookup",
    "catalog_source",
    "catalog_version",
    "model_price_sync",
    "prices_sync",
    "request_defaults",
]

# A provider kind -> the genai-prices provider id its models are looked up under.
CATALOG_PROVIDERS = {
    Provider.Kind.OPENAI: "openai",
    Provider.Kind.DEEPSEEK: "deepseek",
    Provider.Kind.OPENROUTER: "openrouter",
}
PRICE_FIELDS = ("input_usd_per_mtok", "cached_input_usd_per_mtok", "cache_write_usd_per_mtok", "output_usd_per_mtok")
_CATALOG_KEYS = {
    "input_usd_per_mtok": "input_mtok",
    "cached_input_usd_per_mtok": "cache_read_mtok",
    "cache_write_usd_per_mtok": "cache_write_mtok",
    "output_usd_per_mtok": "output_mtok",
}
PRICE_QUANTUM = Decimal("0.000001")  # the six decimal places a price is stored with
# OpenAI's reasoning models: o1, o3, o4-mini…, the gpt-5 family (not its chat variant).
_OPENAI_REASONING = re.compile(r"^(o\d+(-|$)|gpt-5(?!-chat))")
_DEEPSEEK_REASONING = re.compile(r"^deepseek-(reasoner|r1)")


@dataclass(frozen=True)
class CatalogEntry:
    """What the catalog says of one model: prices (USD per million tokens; None: no such price)."""

    model_id: str
    prices: dict[str, Decimal | None]
    request: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PriceChange:
    """One model's prices now and in the catalog, for ``sync_prices``."""

    model: LLMModel
    old: dict[str, Decimal | None]
    new: dict[str, Decimal | None]

    @property
    def changed(self) -> bool:
        return self.old != self.new


def catalog_version() -> str:
    return version("genai-prices")


def catalog_source() -> str:
    """The ``price_source`` of prices taken from the catalog."""
    return f"catalog {catalog_version()}"


@cache
def _snapshot() -> Any:
    # The bundled data only: never the package's auto-updating snapshot.
    from genai_prices.data import providers
    from genai_prices.data_snapshot import DataSnapshot

    return DataSnapshot(providers=providers, from_auto_update=False)


def _price(value: Any) -> Decimal | None:
    if value is None:
        return None
    base = getattr(value, "base", value)  # tiered prices: the base tier
    return Decimal(base).quantize(PRICE_QUANTUM)


def request_defaults(kind: str, name: str) -> dict[str, Any]:
    """Request options a reasoning model needs: OpenAI's refuse ``max_tokens`` and any temperature
    but the default; DeepSeek's reasoner ignores temperature."""
    base = name.rsplit("/", 1)[-1].lower()
    if kind == Provider.Kind.OPENAI and _OPENAI_REASONING.match(base):
        return {"token_limit_param": LLMModel.TokenLimitParam.MAX_COMPLETION_TOKENS, "send_temperature": False}
    if kind in (Provider.Kind.DEEPSEEK, Provider.Kind.OPENROUTER) and _DEEPSEEK_REASONING.match(base):
        return {"send_temperature": False}
    if kind == Provider.Kind.OPENROUTER and _OPENAI_REASONING.match(base):
        return {"send_temperature": False}  # OpenRouter translates max_tokens itself
    return {}


def catalog_lookup(*, kind: str, name: str) -> CatalogEntry | None:
    """The catalog's entry for model ``name`` at a provider of ``kind``; None if it has none."""
    provider_id = CATALOG_PROVIDERS.get(kind)  # type: ignore[call-overload]
    if provider_id is None or not name:
        return None
    try:
        _, info = _snapshot().find_provider_model(name, None, provider_id, None)
        prices = info.get_prices(datetime.now(tz=UTC))
    except LookupError:
        return None
    values = {ours: _price(getattr(prices, theirs, None)) for ours, theirs in _CATALOG_KEYS.items()}
    if values["input_usd_per_mtok"] is None or values["output_usd_per_mtok"] is None:
        return None
    return CatalogEntry(model_id=info.id, prices=values, request=request_defaults(kind, name))


def _prices_of(model: LLMModel) -> dict[str, Decimal | None]:
    return {f: getattr(model, f) for f in PRICE_FIELDS}


def model_price_sync(model: LLMModel, *, apply: bool) -> PriceChange | None:
    """The catalog's prices for ``model`` against its own (written with ``apply``); None if unknown."""
    entry = catalog_lookup(kind=model.provider.kind, name=model.name)
    if entry is None:
        return None
    change = PriceChange(model=model, old=_prices_of(model), new=dict(entry.prices))
    if apply:
        for name, value in entry.prices.items():
            setattr(model, name, value)
        model.price_source = catalog_source()
        model.price_updated_at = timezone.now()
        model.save(update_fields=[*PRICE_FIELDS, "price_source", "price_updated_at"])
    return change


def prices_sync(*, apply: bool = False, model_ids: list[int] | None = None) -> list[PriceChange]:
    """Every model the catalog knows, with its prices now and in the catalog; ``apply`` writes them.

    Campaigns already launched keep the prices they pinned.
    """
    models = LLMModel.objects.select_related("provider").order_by("provider__name", "name")
    if model_ids is not None:
        models = models.filter(id__in=model_ids)
    with transaction.atomic():
        changes = [model_price_sync(m, apply=apply) for m in models]
    return [c for c in changes if c is not None]
