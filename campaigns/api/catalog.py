"""Products (with CSV import) and prompt templates: a catalog shared by the whole team."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import File, Query, Status, UploadedFile

from campaigns.api.auth import READ, WRITE
from campaigns.api.common import (
    ApiRouter,
    adelete_or_404,
    aget_or_404,
    asave,
    asearch_page,
    links,
    responses,
    user_of,
)
from campaigns.models import Product, PromptTemplate
from campaigns.schemas import (
    ImportErrorOut,
    ImportOut,
    ImportParams,
    ObjectId,
    PageOut,
    ProductFilters,
    ProductIn,
    ProductOut,
    ProductPatch,
    PromptTemplateFilters,
    PromptTemplateIn,
    PromptTemplateOut,
    PromptTemplatePatch,
)
from campaigns.services.checks import template_fields
from campaigns.services.imports import MAX_FILE_BYTES, import_parse, products_import
from campaigns.services.products import product_save

aproduct_save = sync_to_async(product_save)

__all__ = ["router"]

router = ApiRouter(auth=READ)

IMPORT_HELP = f"""\
Upload a CSV file (multipart field `file`, at most {MAX_FILE_BYTES // (1024 * 1024)} MB): a Shopify product export
(Handle, Title, Body (HTML), Vendor, Type, Tags, Option1..3 Name/Value; rows with the same
Handle and no Title are variants, their option values are collected) or a sheet with
`name`, `description`, `language`, `attributes` (a JSON object) and any other columns
(kept as attributes). All or nothing: any row error is a 422 listing every error, and
nothing is saved. `dry_run=true` returns the preview and the errors (200) without saving.
A Shopify product whose handle is already in the catalog is updated in place (`updated`),
so importing a newer export again does not double the catalog.
"""


MALFORMED_MULTIPART = (
    "Malformed body. A multipart body that cannot be parsed at all may be refused by the HTTP server "
    "before the application sees it, with an empty body; otherwise the body is the usual error object."
)


# Products -------------------------------------------------------------------------------


@router.get("/products", response=responses(200, PageOut[ProductOut]), tags=["products"])
async def product_list(request: HttpRequest, filters: Query[ProductFilters]) -> dict[str, Any]:
    products = Product.objects.all()
    if filters.language:
        products = products.filter(language=filters.language)
    return await asearch_page(products, filters, "name", "description")


@router.post(
    "/products",
    response=responses(201, ProductOut),
    auth=WRITE,
    tags=["products"],
    openapi_extra=links(201, "product_id", "product_detail", "product_update", "product_delete"),
)
async def product_create(request: HttpRequest, payload: ProductIn) -> Status:
    return Status(201, await aproduct_save(product=Product(owner=user_of(request)), **payload.dict()))


@router.post(
    "/products/import",
    response={**responses(201, ImportOut), 200: ImportOut, 400: None, 422: ImportErrorOut},
    auth=WRITE,
    tags=["products"],
    description=IMPORT_HELP,
    openapi_extra={"responses": {400: {"description": MALFORMED_MULTIPART}}},
)
async def product_import(request: HttpRequest, params: Query[ImportParams], file: File[UploadedFile]) -> Status:
    data = await sync_to_async(file.read)(MAX_FILE_BYTES + 1)
    parsed = await sync_to_async(import_parse)(data, language=params.language)
    preview = {"format": parsed.format, "errors": [vars(e) for e in parsed.errors]}
    if params.dry_run:
        rows = [{**vars(item), "id": None} for item in parsed.rows]
        return Status(200, {**preview, "dry_run": True, "created": 0, "updated": 0, "products": rows})
    result = await sync_to_async(products_import)(parsed=parsed, owner=user_of(request))
    rows = [{**vars(item), "id": p.id} for item, p in zip(parsed.rows, result.products, strict=True)]
    saved = {"created": result.created, "updated": result.updated}
    return Status(201, {**preview, "dry_run": False, **saved, "products": rows})


@router.get("/products/{product_id}", response=responses(200, ProductOut, 404), tags=["products"])
async def product_detail(request: HttpRequest, product_id: ObjectId) -> Product:
    return await aget_or_404(Product.objects.all(), product_id, "product")


@router.patch("/products/{product_id}", response=responses(200, ProductOut, 404), auth=WRITE, tags=["products"])
async def product_update(request: HttpRequest, product_id: ObjectId, payload: ProductPatch) -> Product:
    product = await aget_or_404(Product.objects.all(), product_id, "product")
    return await aproduct_save(product=product, **payload.dict(exclude_unset=True))


@router.delete("/products/{product_id}", response=responses(204, None, 404, 409), auth=WRITE, tags=["products"])
async def product_delete(request: HttpRequest, product_id: ObjectId) -> Status:
    return await adelete_or_404(Product.objects.all(), product_id, "product")


# Templates ------------------------------------------------------------------------------


@router.get("/templates", response=responses(200, PageOut[PromptTemplateOut]), tags=["templates"])
async def template_list(request: HttpRequest, filters: Query[PromptTemplateFilters]) -> dict[str, Any]:
    return await asearch_page(PromptTemplate.objects.all(), filters, "name", "body")


@router.post(
    "/templates",
    response=responses(201, PromptTemplateOut),
    auth=WRITE,
    tags=["templates"],
    openapi_extra=links(201, "template_id", "template_detail", "template_update", "template_delete"),
)
async def template_create(request: HttpRequest, payload: PromptTemplateIn) -> Status:
    return Status(201, await asave(PromptTemplate(owner=user_of(request)), **template_fields(payload.dict())))


@router.get("/templates/{template_id}", response=responses(200, PromptTemplateOut, 404), tags=["templates"])
async def template_detail(request: HttpRequest, template_id: ObjectId) -> PromptTemplate:
    return await aget_or_404(PromptTemplate.objects.all(), template_id, "template")


@router.patch(
    "/templates/{template_id}", response=responses(200, PromptTemplateOut, 404), auth=WRITE, tags=["templates"]
)
async def template_update(request: HttpRequest, template_id: ObjectId, payload: PromptTemplatePatch) -> PromptTemplate:
    template = await aget_or_404(PromptTemplate.objects.all(), template_id, "template")
    return await asave(template, **template_fields(payload.dict(exclude_unset=True)))


@router.delete("/templates/{template_id}", response=responses(204, None, 404, 409), auth=WRITE, tags=["templates"])
async def template_delete(request: HttpRequest, template_id: ObjectId) -> Status:
    return await adelete_or_404(PromptTemplate.objects.all(), template_id, "template")
