"""Products, prompt templates and product imports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from campaigns.engine.checks import MAX_CHECKS, Check, Preset
from campaigns.schemas.common import In, Language, Name, PageParams, PatchSchema, RowErrorOut, Search
from campaigns.services.products import MAX_ATTRIBUTES_BYTES, MAX_ATTRIBUTES_DEPTH, MAX_DESCRIPTION_CHARS
from campaigns.templating import max_template_chars

TEMPLATE_CHARS = max_template_chars()  # COPYGEN_MAX_TEMPLATE_CHARS

__all__ = [
    "ImportErrorOut",
    "ImportOut",
    "ImportParams",
    "ImportRowOut",
    "ProductFilters",
    "ProductIn",
    "ProductOut",
    "ProductPatch",
    "PromptTemplateFilters",
    "PromptTemplateIn",
    "PromptTemplateOut",
    "PromptTemplatePatch",
]

CatalogOrdering = Literal["name", "-name", "id", "-id", "created_at", "-created_at", "updated_at", "-updated_at"]

PRODUCT_EXAMPLE = {
    "name": "Trail Runner 2",
    "description": "Lightweight trail running shoe with a grippy sole.",
    "attributes": {"color": "forest green", "weight": "260 g"},
    "language": "en",
}
TEMPLATE_EXAMPLE = {
    "name": "Tagline",
    "system_prompt": "You are a senior copywriter. Answer in {{ language }}.",
    "body": "Write a punchy tagline for {{ product.name }}. {{ product.description }}",
    "checks": [
        {"kind": "max_chars", "value": 30, "counting": "google_ads"},
        {"kind": "must_include", "terms": ["{{ product.name }}"]},
        {"kind": "language"},
    ],
}
CHECKS_HELP = (
    "copy checks run on every cell of a campaign (pinned with the template's text when a campaign is created); "
    f"at most {MAX_CHECKS}. Kinds: max_chars/min_chars (value, counting: graphemes|google_ads|x, stop_margin), "
    "max_words/min_words/max_lines (value), sms (segments), must_include/must_not_include (terms), "
    "regex (pattern in RE2 syntax, must_match, description), language (language, min_confidence), "
    "format (placeholders, valid_json, quotes)"
)
PRESET_HELP = (
    "a channel preset whose checks are put before those of `checks`: google_ads_headline (30, Google Ads width), "
    "google_ads_description (90), meta_title (60), meta_description (160), x_post (280, X weighting), "
    "sms (160 GSM-7 or 70 UCS-2), push_notification (110, 2 lines), instagram_caption (2,200, 30 hashtags)"
)
Checks = Annotated[list[Check], Field(max_length=MAX_CHECKS, description=CHECKS_HELP)]
ATTRIBUTES_HELP = (
    f"a JSON object (templates read it): at most {MAX_ATTRIBUTES_BYTES} bytes as compact JSON, "
    f"nested at most {MAX_ATTRIBUTES_DEPTH} levels deep, numbers finite"
)
STAMPS = {"created_at": "2026-03-01T09:30:00Z", "updated_at": "2026-03-02T11:00:00Z"}


class ProductIn(In):
    model_config = ConfigDict(json_schema_extra={"examples": [PRODUCT_EXAMPLE]})

    name: Name
    description: str = Field("", max_length=MAX_DESCRIPTION_CHARS)
    attributes: dict[str, Any] = Field(default_factory=dict, description=ATTRIBUTES_HELP)
    language: Language = "en"


class ProductPatch(PatchSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"attributes": {"color": "navy"}}]})

    name: Name | None = None
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)
    attributes: dict[str, Any] | None = Field(None, description=ATTRIBUTES_HELP)
    language: Language | None = None


class ProductOut(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 7, **PRODUCT_EXAMPLE, **STAMPS}]})

    id: int
    name: str
    description: str
    attributes: dict[str, Any]
    language: str
    created_at: datetime
    updated_at: datetime


class ProductFilters(PageParams):
    search: Search = Field("", description="in the name or the description")
    language: str = Field("", max_length=35, description="only products in this language")
    ordering: CatalogOrdering = "name"


class PromptTemplateIn(In):
    model_config = ConfigDict(json_schema_extra={"examples": [TEMPLATE_EXAMPLE]})

    name: Name
    system_prompt: str = Field("", max_length=TEMPLATE_CHARS, description="Liquid over product.* and language")
    body: str = Field(min_length=1, max_length=TEMPLATE_CHARS, description="Liquid over product.* and language")
    checks: Checks = Field(default_factory=list)
    preset: Preset | None = Field(None, description=PRESET_HELP)


class PromptTemplatePatch(PatchSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"body": "Praise {{ product.attributes.color }}."}]})

    name: Name | None = None
    system_prompt: str | None = Field(None, max_length=TEMPLATE_CHARS)
    body: str | None = Field(None, min_length=1, max_length=TEMPLATE_CHARS)
    checks: Checks | None = Field(None, description="replaces the template's checks (with the preset's, if given)")
    preset: Preset | None = Field(None, description=PRESET_HELP)


class PromptTemplateOut(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": 3, **TEMPLATE_EXAMPLE, "needs_attention": False, "attention_reason": "", **STAMPS}]
        }
    )

    id: int
    name: str
    system_prompt: str
    body: str
    checks: Checks
    needs_attention: bool = Field(description="kept unconverted by the move to Liquid: refused at launch until saved")
    attention_reason: str
    created_at: datetime
    updated_at: datetime


class PromptTemplateFilters(PageParams):
    search: Search = Field("", description="in the name or the body")
    ordering: CatalogOrdering = "name"


class ImportParams(In):
    language: Language = Field("en", description="the language of products whose row names none")
    dry_run: bool = Field(False, description="parse and validate only: return the preview, save nothing")


class ImportRowOut(Schema):
    """A product read from the file: ``row`` is its first line (header = 1), ``id`` once saved."""

    row: int
    id: int | None = None
    name: str
    description: str
    attributes: dict[str, Any]
    language: str


class ImportOut(Schema):
    """The result of an import: the products (saved, or a preview) and the errors found."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": True,
                    "format": "shopify",
                    "created": 0,
                    "updated": 0,
                    "products": [{"row": 2, "id": None, **PRODUCT_EXAMPLE}],
                    "errors": [{"row": 5, "field": "Title", "message": "a product needs a title"}],
                }
            ]
        }
    )

    dry_run: bool
    format: Literal["shopify", "simple"]
    created: int = Field(description="new products saved (0 for a dry run)")
    updated: int = Field(0, description="Shopify products already in the catalog (same handle), updated in place")
    products: list[ImportRowOut]
    errors: list[RowErrorOut]


class ImportErrorOut(Schema):
    """A rejected import: nothing was saved; ``errors`` lists every row at fault."""

    detail: str
    field: str | None = None
    errors: list[RowErrorOut] = Field(default_factory=list)
