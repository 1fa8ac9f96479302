"""Reviewing a campaign: models side by side, rate / approve / edit, cost per approved copy.

Exports are the REST API's (``/api/v1/campaigns/{id}/export``), which accepts the session.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from campaigns.forms import ReviewFilterForm, ReviewForm
from campaigns.models import Generation
from campaigns.services import review
from campaigns.services.errors import DomainError, InvalidInput
from campaigns.services.studio.review_board import approved_cost_table, review_board, review_counts
from campaigns.views._common import error_json, visible_campaign, wants_json

EXPORT_FORMATS = ("csv", "json", "xlsx")  # what the API's export offers


@login_required
def campaign_review(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = visible_campaign(request, pk)
    filters = ReviewFilterForm(request.GET, campaign=campaign)
    board = review_board(campaign=campaign, filters=filters.filters(), page_number=request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "campaign": campaign,
        "filters": filters,
        "board": board,
        "counts": review_counts(campaign=campaign),
        "costs": approved_cost_table(campaign=campaign),
        "query": query.urlencode(),
        "export_formats": EXPORT_FORMATS,
    }
    return render(request, "campaigns/campaign_review.html", context)


def _review_json(g: Generation) -> dict[str, object]:
    return {
        "id": g.id,
        "rating": g.rating,
        "approved": g.approved,
        "text": g.text,
        "edited_text": g.edited_text,
        "final_text": g.final_text,
    }


@login_required
@require_POST
def generation_review(request: HttpRequest, pk: int) -> HttpResponse:
    """Rate, approve or edit one generation: JSON for the page's scripts, a redirect for plain forms."""
    form = ReviewForm(request.POST)
    json = wants_json(request)
    try:
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise InvalidInput(field, f"{field}: {errors[0]}")
        generation = review.generation_review(user=request.user, generation_id=pk, **form.service_kwargs())
    except DomainError as exc:
        if json:
            return error_json(exc)
        messages.error(request, exc.message)
    else:
        if json:
            return JsonResponse(_review_json(generation))
        messages.success(request, "Review saved.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("campaigns:dashboard")
    return redirect(back)
