"""Helpers shared by the views: paging, the campaign a user may see, saving what a user owns, JSON answers."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404

from campaigns.models import Campaign
from campaigns.services.errors import DomainError, InvalidInput
from campaigns.services.selectors import campaigns_visible_to

PAGE_SIZE = 25


def page_of(request: HttpRequest, items: QuerySet[Any]) -> Page:
    return Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))


def visible_campaign(request: HttpRequest, pk: int) -> Campaign:
    """The campaign if the user may see it; others' campaigns are a 404."""
    return get_object_or_404(campaigns_visible_to(request.user).select_related("owner", "team"), pk=pk)


def save_owned(form: ModelForm, user: Any) -> Model:
    """Save a valid form's object; a new one is owned by ``user``."""
    obj = form.save(commit=False)
    if obj.pk is None:
        obj.owner = user
    obj.save()
    return obj


def wants_json(request: HttpRequest) -> bool:
    """A script's fetch (which asks for JSON) rather than a plain form post."""
    return "application/json" in request.headers.get("Accept", "")


def error_json(exc: DomainError) -> JsonResponse:
    body = {"error": exc.message}
    if isinstance(exc, InvalidInput):
        body["field"] = exc.field
    return JsonResponse(body, status=exc.status_code)
