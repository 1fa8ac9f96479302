"""Shapes of the REST API: ``XxxIn`` (create), ``XxxPatch`` (partial update), ``XxxOut`` (read).

Money is a decimal string in JSON, both ways: input accepts a string or a number and
rejects negatives; output is always a string such as ``"0.000123"``, never a float.
Every input rejects text no database stores (NUL characters, lone surrogates) and
non-finite numbers, anywhere in it, with a 422 naming the field.
"""

from __future__ import annotations

from campaigns.schemas.campaigns import (
    CampaignFilters,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignStatus,
    EstimateIn,
    EstimateOut,
    ModelEstimateOut,
)
from campaigns.schemas.catalog import (
    ImportErrorOut,
    ImportOut,
    ImportParams,
    ImportRowOut,
    ProductFilters,
    ProductIn,
    ProductOut,
    ProductPatch,
    PromptTemplateFilters,
    PromptTemplateIn,
    PromptTemplateOut,
    PromptTemplatePatch,
)
from campaigns.schemas.common import (
    ErrorOut,
    In,
    ObjectId,
    PageOut,
    PageParams,
    PatchSchema,
    RowErrorOut,
    money_str,
)
from campaigns.schemas.generations import (
    AllGenerationFilters,
    AttemptOut,
    ExportOut,
    ExportParams,
    ExportRowOut,
    GenerationDetailOut,
    GenerationFilters,
    GenerationOut,
    GenerationPatch,
    GenerationStatus,
)
from campaigns.schemas.registry import (
    LLMModelFilters,
    LLMModelIn,
    LLMModelOut,
    LLMModelPatch,
    ProviderFilters,
    ProviderIn,
    ProviderOut,
    ProviderPatch,
)
from campaigns.schemas.tokens import TokenCreatedOut, TokenIn, TokenOut

__all__ = [
    "AllGenerationFilters",
    "AttemptOut",
    "CampaignFilters",
    "CampaignIn",
    "CampaignOut",
    "CampaignPatch",
    "CampaignStatus",
    "ErrorOut",
    "EstimateIn",
    "EstimateOut",
    "ExportOut",
    "ExportParams",
    "ExportRowOut",
    "GenerationDetailOut",
    "GenerationFilters",
    "GenerationOut",
    "GenerationPatch",
    "GenerationStatus",
    "ImportErrorOut",
    "ImportOut",
    "ImportParams",
    "ImportRowOut",
    "In",
    "LLMModelFilters",
    "LLMModelIn",
    "LLMModelOut",
    "LLMModelPatch",
    "ModelEstimateOut",
    "ObjectId",
    "PageOut",
    "PageParams",
    "PatchSchema",
    "ProductFilters",
    "ProductIn",
    "ProductOut",
    "ProductPatch",
    "PromptTemplateFilters",
    "PromptTemplateIn",
    "PromptTemplateOut",
    "PromptTemplatePatch",
    "ProviderFilters",
    "ProviderIn",
    "ProviderOut",
    "ProviderPatch",
    "RowErrorOut",
    "TokenCreatedOut",
    "TokenIn",
    "TokenOut",
    "money_str",
]
