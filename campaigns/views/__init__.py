"""Views of the marketer UI (the studio): parse input, check access, call one service, render.

Pages: the dashboard, the product catalog (with CSV import), prompt templates (with a
live preview), the campaign builder (with a live estimate), the live campaign page
(whose grid the websocket fills in) and the review page.
"""

from __future__ import annotations

from campaigns.views.campaigns import (
    campaign_cancel,
    campaign_create,
    campaign_detail,
    campaign_estimate,
    campaign_launch,
)
from campaigns.views.catalog import product_create, product_delete, product_edit, product_import, product_list
from campaigns.views.dashboard import dashboard
from campaigns.views.prompts import template_create, template_edit, template_list, template_preview
from campaigns.views.review import campaign_review, generation_review

__all__ = [
    "campaign_cancel",
    "campaign_create",
    "campaign_detail",
    "campaign_estimate",
    "campaign_launch",
    "campaign_review",
    "dashboard",
    "generation_review",
    "product_create",
    "product_delete",
    "product_edit",
    "product_import",
    "product_list",
    "template_create",
    "template_edit",
    "template_list",
    "template_preview",
]
