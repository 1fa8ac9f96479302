"""Prompt templates: list, the editor (variables, live preview, where it is used)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from campaigns import templating
from campaigns.forms import PromptTemplateForm
from campaigns.models import Product, PromptTemplate
from campaigns.services import launch
from campaigns.services.errors import InvalidInput
from campaigns.services.studio.templates import TemplateUsage, template_usage, template_variables
from campaigns.views._common import page_of, save_owned

PREVIEW_PRODUCTS = 200
PROMPT_FIELDS = {"system_prompt", "body", "checks", "preset"}


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    page = page_of(request, PromptTemplate.objects.all())
    return render(request, "campaigns/template_list.html", {"page": page})


def _saved_message(name: str, usage: TemplateUsage | None, prompt_changed: bool) -> str:
    if usage is None:
        return f"Template “{name}” created."
    text = f"Template “{name}” saved."
    if prompt_changed and usage.launched:
        names = ", ".join(f"“{c.name}”" for c in usage.launched[:5])
        more = f" and {len(usage.launched) - 5} more" if len(usage.launched) > 5 else ""
        text += (
            f" {names}{more} used the earlier text: their copy keeps the prompts it was launched with"
            " (shown on their review pages)."
        )
    if prompt_changed and usage.drafts:
        n = len(usage.drafts)
        text += (
            f" {n} draft campaign{'s' if n != 1 else ''} {'keep' if n != 1 else 'keeps'} the version"
            f" {'they were' if n != 1 else 'it was'} created with; new campaigns use this text."
        )
    return text


def _template_form(request: HttpRequest, template: PromptTemplate | None) -> HttpResponse:
    usage = template_usage(template=template, user=request.user) if template else None
    form = PromptTemplateForm(request.POST, instance=template) if request.method == "POST" else None
    if form is not None and form.is_valid():
        saved = save_owned(form, request.user)
        prompt_changed = bool(PROMPT_FIELDS & set(form.changed_data))
        messages.success(request, _saved_message(saved.name, usage, prompt_changed))
        return redirect("campaigns:template_list")
    variables = template_variables()
    context = {
        "form": form or PromptTemplateForm(instance=template),
        "template_obj": template,
        "usage": usage,
        "field_variables": [v for v in variables if v["kind"] == "field"],
        "attribute_variables": [v for v in variables if v["kind"] == "attribute"],
        "products": Product.objects.all()[:PREVIEW_PRODUCTS],
        "max_template_chars": templating.max_template_chars(),
        "max_prompt_chars": templating.max_prompt_chars(),
        "max_loop_iterations": templating.MAX_LOOP_ITERATIONS,
    }
    return render(request, "campaigns/template_form.html", context)


@login_required
def template_create(request: HttpRequest) -> HttpResponse:
    return _template_form(request, None)


@login_required
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _template_form(request, get_object_or_404(PromptTemplate, pk=pk))


@login_required
@require_POST
def template_preview(request: HttpRequest) -> JsonResponse:
    """The chat messages ``system_prompt`` and ``body`` render to for one product."""
    template = PromptTemplate(system_prompt=request.POST.get("system_prompt", ""), body=request.POST.get("body", ""))
    try:
        template.clean()
    except ValidationError as exc:
        field, errors = next(iter(exc.message_dict.items()))
        return JsonResponse({"error": errors[0], "field": field}, status=400)
    product_id = request.POST.get("product_id", "")
    product = Product.objects.filter(pk=product_id).first() if product_id.isdigit() else None
    if product is None:
        return JsonResponse({"error": "choose a product to preview with", "field": "product_id"}, status=400)
    language = request.POST.get("language", "").strip()[:35]
    try:
        messages_ = launch.messages_render(template=template, product=product, language=language)
    except InvalidInput as exc:
        return JsonResponse({"error": exc.message, "field": "body"}, status=400)
    return JsonResponse({"messages": messages_})
