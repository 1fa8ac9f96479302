"""The product catalog: list and search, create, edit, delete, and CSV import with a preview."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.db.models.deletion import ProtectedError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from campaigns.forms import ProductForm, ProductImportForm
from campaigns.models import Product
from campaigns.services import imports
from campaigns.services.errors import InvalidInput
from campaigns.views._common import page_of, save_owned

# The file being imported waits in the session between the preview and the confirmation.
IMPORT_SESSION_KEY = "product_import"
PREVIEW_ROWS = 100
PREVIEW_ERRORS = 200


@login_required
def product_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    products = Product.objects.all()
    if q:
        products = products.filter(Q(name__icontains=q) | Q(description__icontains=q))
    return render(request, "campaigns/product_list.html", {"page": page_of(request, products), "q": q})


def _product_form(request: HttpRequest, product: Product | None) -> HttpResponse:
    form = ProductForm(request.POST, instance=product) if request.method == "POST" else None
    if form is not None and form.is_valid():
        saved = save_owned(form, request.user)
        messages.success(request, f"Product “{saved.name}” {'created' if product is None else 'saved'}.")
        return redirect("campaigns:product_list")
    form = form or ProductForm(instance=product)
    return render(request, "campaigns/product_form.html", {"form": form, "product": product})


@login_required
def product_create(request: HttpRequest) -> HttpResponse:
    return _product_form(request, None)


@login_required
def product_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _product_form(request, get_object_or_404(Product, pk=pk))


@login_required
def product_delete(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    if request.method != "POST":
        used_in = product.campaigns.count()
        return render(request, "campaigns/product_confirm_delete.html", {"product": product, "used_in": used_in})
    try:
        product.delete()
    except ProtectedError:
        messages.error(request, f"“{product.name}” has generated copy in a campaign and cannot be deleted.")
        return redirect("campaigns:product_list")
    messages.success(request, f"Product “{product.name}” deleted.")
    return redirect("campaigns:product_list")


# --- CSV import ---------------------------------------------------------------------------
def _preview(request: HttpRequest, pending: dict[str, Any], parsed: imports.ParsedImport, **extra: Any) -> HttpResponse:
    error_rows = {e.row for e in parsed.errors}
    context = {
        "pending": pending,
        "parsed": parsed,
        "rows": parsed.rows[:PREVIEW_ROWS],
        "errors": parsed.errors[:PREVIEW_ERRORS],
        "error_rows": len(error_rows),
        **extra,
    }
    return render(request, "campaigns/product_import_preview.html", context)


def _parse(pending: dict[str, Any]) -> imports.ParsedImport:
    return imports.import_parse(pending["data"].encode("utf-8"), language=pending["language"])


def _import_upload(request: HttpRequest) -> HttpResponse:
    form = ProductImportForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data["file"].read()
        try:
            parsed = imports.import_parse(data, language=form.cleaned_data["language"])
        except InvalidInput as exc:
            form.add_error("file", exc.message.removeprefix("file: "))
        else:
            pending = {
                "data": data.decode("utf-8-sig"),
                "language": form.cleaned_data["language"],
                "filename": form.cleaned_data["file"].name,
            }
            request.session[IMPORT_SESSION_KEY] = pending
            return _preview(request, pending, parsed)
    return render(request, "campaigns/product_import.html", {"form": form})


def _import_confirm(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(IMPORT_SESSION_KEY)
    if not pending:
        messages.error(request, "The file to import is no longer here; choose it again.")
        return redirect("campaigns:product_import")
    parsed = _parse(pending)
    if parsed.errors:
        if request.POST.get("skip_errors") != "on":
            return _preview(request, pending, parsed, must_skip=True)
        # The reviewer chose to leave the faulty rows out: import the others, all or nothing.
        parsed = imports.ParsedImport(parsed.format, parsed.rows, [])
    if not parsed.rows:
        return _preview(request, pending, parsed)
    result = imports.products_import(parsed=parsed, owner=request.user)
    del request.session[IMPORT_SESSION_KEY]
    count = len(result.products)
    updated = f" ({result.updated} already in the catalog, updated)" if result.updated else ""
    messages.success(request, f"Imported {count} product{'s' if count != 1 else ''} from {pending['filename']}{updated}.")
    return redirect("campaigns:product_list")


@login_required
def product_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV file, see every product and every row error, then import (or not)."""
    if request.method == "POST" and request.POST.get("step") == "confirm":
        return _import_confirm(request)
    if request.method == "POST":
        return _import_upload(request)
    request.session.pop(IMPORT_SESSION_KEY, None)
    return render(request, "campaigns/product_import.html", {"form": ProductImportForm()})
