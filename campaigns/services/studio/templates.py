"""Prompt templates in the studio: the variables an editor offers and where a template is used."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from campaigns.models import Campaign, Product, PromptTemplate
from campaigns.services.selectors import campaigns_visible_to
from campaigns.templating import PRODUCT_FIELDS

__all__ = ["TemplateUsage", "template_usage", "template_variables"]

ATTRIBUTE_KEY_LIMIT = 24
ATTRIBUTE_SAMPLE = 500
USAGE_LIMIT = 200
DESCRIBED = {
    "name": "the product name",
    "description": "the product description",
    "attributes": "all attributes (loop: {% for attribute in product.attributes %}, then attribute[0] and attribute[1])",
    "language": "the product's own language",
}


def _attribute_keys() -> list[str]:
    keys: set[str] = set()
    for attributes in Product.objects.values_list("attributes", flat=True)[:ATTRIBUTE_SAMPLE]:
        if isinstance(attributes, dict):
            keys.update(str(k) for k in attributes if str(k).isidentifier())
    return sorted(keys)[:ATTRIBUTE_KEY_LIMIT]


def template_variables() -> list[dict[str, str]]:
    """Every variable a template may use, with a line of help each."""
    variables = [{"name": f"product.{f}", "help": DESCRIBED.get(f, ""), "kind": "field"} for f in PRODUCT_FIELDS]
    variables.append(
        {
            "name": "language",
            "help": "the language being written: the campaign's, else the product's own",
            "kind": "field",
        }
    )
    variables += [
        {"name": f"product.attributes.{k}", "help": "an attribute of some products", "kind": "attribute", "key": k}
        for k in _attribute_keys()
    ]
    return variables


@dataclass
class TemplateUsage:
    """Campaigns using a template; each pinned the template version it was created with."""

    drafts: list[Campaign] = field(default_factory=list)
    launched: list[Campaign] = field(default_factory=list)
    hidden: int = 0  # campaigns of other users

    @property
    def any(self) -> bool:
        return bool(self.drafts or self.launched or self.hidden)


def template_usage(*, template: PromptTemplate, user: Any) -> TemplateUsage:
    """Where ``template`` is used, as far as ``user`` may see; others' campaigns are only counted."""
    usage = TemplateUsage()
    campaigns = template.campaigns.order_by("-created_at", "-id")[:USAGE_LIMIT]
    visible = set(campaigns_visible_to(user).filter(templates=template).values_list("id", flat=True))
    for campaign in campaigns:
        if campaign.id not in visible:
            usage.hidden += 1
        elif campaign.status == Campaign.Status.DRAFT:
            usage.drafts.append(campaign)
        else:
            usage.launched.append(campaign)
    return usage
