"""The REST router: catalog, providers and models, campaigns and their generations.

Handlers are thin: ninja validates the input against :mod:`campaigns.schemas`, the auth
classes below authenticate and authorize, a service or one ORM call does the work, and
the exception handlers installed by :func:`install` translate every error into one
shape, ``{"detail": "...", "field": "..."}`` (``field`` only when one field is to blame).

Authentication is ``Authorization: Bearer <token>`` (an API token with scopes) or the
Django session of the browser UI. GET needs ``read``; writes to the catalog and to
campaigns need ``write``; launch and cancel need ``launch``; registering providers and
models needs the ``admin`` scope and a staff user. ``admin`` implies every other scope.
A session user holds every scope, but provider and model writes still need staff.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, ProtectedError, QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Query, Router, Status
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer, SessionAuth

from campaigns.models import ApiToken, Campaign, LLMModel, Product, PromptTemplate, Provider
from campaigns.schemas import (
    CampaignIn,
    CampaignOut,
    ErrorOut,
    GenerationFilters,
    GenerationOut,
    LLMModelIn,
    LLMModelOut,
    PageOut,
    PageParams,
    ProductIn,
    ProductOut,
    ProductPatch,
    PromptTemplateIn,
    PromptTemplateOut,
    PromptTemplatePatch,
    ProviderIn,
    ProviderOut,
)
from campaigns.services.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from campaigns.services.launch import campaign_cancel, campaign_create, campaign_launch
from campaigns.services.selectors import campaign_stats, campaigns_visible_to
from campaigns.services.tokens import token_authenticate

__all__ = ["install", "router"]

M = TypeVar("M", bound=Model)

ADMIN_SCOPE = ApiToken.Scope.ADMIN.value


# Authentication and authorization -----------------------------------------------------


def _require_scope(scopes: list[str], needed: str) -> None:
    if needed not in scopes and ADMIN_SCOPE not in scopes:
        raise PermissionDenied(f"this API token lacks the '{needed}' scope")


def _require_staff(user: Any) -> None:
    if not user.is_staff:
        raise PermissionDenied("only staff users may register providers and models")


class BearerToken(HttpBearer):
    """``Authorization: Bearer cgk_…``; the token must hold the operation's scope."""

    def __init__(self, scope: str, *, staff: bool = False) -> None:
        super().__init__()
        self.scope = scope
        self.staff = staff

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        api_token = token_authenticate(token)
        if api_token is None:
            raise AuthenticationError(message="invalid, expired or revoked API token")
        request.user = api_token.user
        _require_scope(api_token.scopes, self.scope)
        if self.staff:
            _require_staff(api_token.user)
        return api_token


class Session(SessionAuth):
    """The browser's Django session (CSRF-checked); a session user holds every scope."""

    def __init__(self, *, staff: bool = False) -> None:
        super().__init__()
        self.staff = staff

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is not None and self.staff:
            _require_staff(user)
        return user


def scoped(scope: str, *, staff: bool = False) -> list[Any]:
    """The auth of an operation that needs ``scope`` (and a staff user if ``staff``)."""
    return [BearerToken(scope, staff=staff), Session(staff=staff)]


READ = scoped(ApiToken.Scope.READ)
WRITE = scoped(ApiToken.Scope.WRITE)
LAUNCH = scoped(ApiToken.Scope.LAUNCH)
ADMIN = scoped(ApiToken.Scope.ADMIN, staff=True)

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (401, 403, 404, 409, 422)}


def _responses(status: int, schema: Any) -> dict[int, Any]:
    return {status: schema, **ERRORS}


router = Router(auth=READ)


# Helpers ----------------------------------------------------------------------------


def _get(queryset: QuerySet[M], obj_id: int, what: str) -> M:
    obj = queryset.filter(id=obj_id).first()
    if obj is None:
        raise NotFound(f"{what} {obj_id} not found")
    return obj


def _page(queryset: QuerySet[Any], limit: int, offset: int) -> dict[str, Any]:
    return {"items": list(queryset[offset : offset + limit]), "count": queryset.count()}


def _save(obj: M, **fields: Any) -> M:
    """Set ``fields``, validate the whole object (Django's rules) and save it."""
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.full_clean()
    obj.save()
    return obj


def _user(request: HttpRequest) -> AbstractBaseUser | AnonymousUser:
    return request.user


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    return _get(campaigns_visible_to(_user(request)), campaign_id, "campaign")


def _campaign_out(campaign: Campaign) -> dict[str, Any]:
    return {
        **{f: getattr(campaign, f) for f in ("id", "name", "variants", "max_tokens", "temperature")},
        **{f: getattr(campaign, f) for f in ("created_at", "launched_at", "finished_at")},
        **campaign_stats(campaign),
        "product_ids": [p.id for p in campaign.products.all()],
        "template_ids": [t.id for t in campaign.templates.all()],
        "model_ids": [m.id for m in campaign.llm_models.all()],
    }


# Providers and models -----------------------------------------------------------------


@router.post("/providers", response=_responses(201, ProviderOut), auth=ADMIN, tags=["providers"])
def provider_create(request: HttpRequest, payload: ProviderIn) -> Status:
    data = payload.dict()
    provider = Provider()
    provider.set_api_key(data.pop("api_key"))
    return Status(201, _save(provider, **data))


@router.get("/providers", response=_responses(200, PageOut[ProviderOut]), tags=["providers"])
def provider_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    return _page(Provider.objects.all(), page.limit, page.offset)


@router.get("/providers/{provider_id}", response=_responses(200, ProviderOut), tags=["providers"])
def provider_detail(request: HttpRequest, provider_id: int) -> Provider:
    return _get(Provider.objects.all(), provider_id, "provider")


@router.post("/models", response=_responses(201, LLMModelOut), auth=ADMIN, tags=["models"])
def model_create(request: HttpRequest, payload: LLMModelIn) -> Status:
    if not Provider.objects.filter(id=payload.provider_id).exists():
        raise InvalidInput("provider_id", f"provider_id: no such provider {payload.provider_id}")
    return Status(201, _save(LLMModel(), **payload.dict()))


@router.get("/models", response=_responses(200, PageOut[LLMModelOut]), tags=["models"])
def model_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    return _page(LLMModel.objects.all(), page.limit, page.offset)


@router.get("/models/{model_id}", response=_responses(200, LLMModelOut), tags=["models"])
def model_detail(request: HttpRequest, model_id: int) -> LLMModel:
    return _get(LLMModel.objects.all(), model_id, "model")


# Products -------------------------------------------------------------------------------


@router.post("/products", response=_responses(201, ProductOut), auth=WRITE, tags=["products"])
def product_create(request: HttpRequest, payload: ProductIn) -> Status:
    return Status(201, _save(Product(owner=_user(request)), **payload.dict()))


@router.get("/products", response=_responses(200, PageOut[ProductOut]), tags=["products"])
def product_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    return _page(Product.objects.all(), page.limit, page.offset)


@router.get("/products/{product_id}", response=_responses(200, ProductOut), tags=["products"])
def product_detail(request: HttpRequest, product_id: int) -> Product:
    return _get(Product.objects.all(), product_id, "product")


@router.patch("/products/{product_id}", response=_responses(200, ProductOut), auth=WRITE, tags=["products"])
def product_update(request: HttpRequest, product_id: int, payload: ProductPatch) -> Product:
    product = _get(Product.objects.all(), product_id, "product")
    return _save(product, **payload.dict(exclude_unset=True))


@router.delete("/products/{product_id}", response=_responses(204, None), auth=WRITE, tags=["products"])
def product_delete(request: HttpRequest, product_id: int) -> Status:
    _get(Product.objects.all(), product_id, "product").delete()
    return Status(204, None)


# Templates ------------------------------------------------------------------------------


@router.post("/templates", response=_responses(201, PromptTemplateOut), auth=WRITE, tags=["templates"])
def template_create(request: HttpRequest, payload: PromptTemplateIn) -> Status:
    return Status(201, _save(PromptTemplate(owner=_user(request)), **payload.dict()))


@router.get("/templates", response=_responses(200, PageOut[PromptTemplateOut]), tags=["templates"])
def template_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    return _page(PromptTemplate.objects.all(), page.limit, page.offset)


@router.get("/templates/{template_id}", response=_responses(200, PromptTemplateOut), tags=["templates"])
def template_detail(request: HttpRequest, template_id: int) -> PromptTemplate:
    return _get(PromptTemplate.objects.all(), template_id, "template")


@router.patch("/templates/{template_id}", response=_responses(200, PromptTemplateOut), auth=WRITE, tags=["templates"])
def template_update(request: HttpRequest, template_id: int, payload: PromptTemplatePatch) -> PromptTemplate:
    template = _get(PromptTemplate.objects.all(), template_id, "template")
    return _save(template, **payload.dict(exclude_unset=True))


@router.delete("/templates/{template_id}", response=_responses(204, None), auth=WRITE, tags=["templates"])
def template_delete(request: HttpRequest, template_id: int) -> Status:
    _get(PromptTemplate.objects.all(), template_id, "template").delete()
    return Status(204, None)


# Campaigns ------------------------------------------------------------------------------


@router.post("/campaigns", response=_responses(201, CampaignOut), auth=WRITE, tags=["campaigns"])
def campaign_create_view(request: HttpRequest, payload: CampaignIn) -> Status:
    campaign = campaign_create(owner=_user(request), **payload.dict())  # type: ignore[arg-type]
    return Status(201, _campaign_out(campaign))


@router.get("/campaigns", response=_responses(200, PageOut[CampaignOut]), tags=["campaigns"])
def campaign_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    campaigns = campaigns_visible_to(_user(request)).prefetch_related("products", "templates", "llm_models")
    result = _page(campaigns, page.limit, page.offset)
    result["items"] = [_campaign_out(c) for c in result["items"]]
    return result


@router.get("/campaigns/{campaign_id}", response=_responses(200, CampaignOut), tags=["campaigns"])
def campaign_detail(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    return _campaign_out(_campaign(request, campaign_id))


@router.post("/campaigns/{campaign_id}/launch", response=_responses(202, CampaignOut), auth=LAUNCH, tags=["campaigns"])
def campaign_launch_view(request: HttpRequest, campaign_id: int) -> Status:
    campaign = campaign_launch(campaign_id=_campaign(request, campaign_id).id)
    return Status(202, _campaign_out(campaign))


@router.post("/campaigns/{campaign_id}/cancel", response=_responses(200, CampaignOut), auth=LAUNCH, tags=["campaigns"])
def campaign_cancel_view(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    return _campaign_out(campaign_cancel(campaign_id=_campaign(request, campaign_id).id))


@router.get(
    "/campaigns/{campaign_id}/generations", response=_responses(200, PageOut[GenerationOut]), tags=["campaigns"]
)
def generation_list(request: HttpRequest, campaign_id: int, filters: Query[GenerationFilters]) -> dict[str, Any]:
    generations = _campaign(request, campaign_id).generations.order_by("id")
    if filters.status is not None:
        generations = generations.filter(status=filters.status)
    return _page(generations, filters.limit, filters.offset)


# Errors ---------------------------------------------------------------------------------


def _error(api: NinjaAPI, request: HttpRequest, status: int, detail: str, field: str | None = None) -> HttpResponse:
    body: dict[str, Any] = {"detail": detail}
    if field:
        body["field"] = field
    return api.create_response(request, body, status=status)


def _django_error(exc: DjangoValidationError) -> tuple[str, str | None]:
    """The first message of a Django ValidationError and the field it names, if any."""
    if not hasattr(exc, "error_dict"):
        return "; ".join(exc.messages), None
    field, messages = next(iter(exc.message_dict.items()))
    if field == NON_FIELD_ERRORS:
        return messages[0], None
    return f"{field}: {messages[0]}", field


BODY_SOURCES = {"body", "form", "file"}
NO_CREDENTIALS = "authentication required: send 'Authorization: Bearer <token>' or sign in"


def _ninja_error(exc: NinjaValidationError) -> tuple[str, str | None]:
    """The first input error, as ``"<path>: <message>"``, and the top-level field it names."""
    error = exc.errors[0]
    loc = [str(part) for part in error.get("loc", ())]
    source, path = (loc[0], loc[1:]) if loc else ("request", [])
    if source in BODY_SOURCES:
        path = path[1:]  # the handler's parameter name, not a field of the payload
    message = str(error.get("msg", "invalid input"))
    if error.get("type") == "missing" and not path:
        return f"{source}: request {source} is required", None
    if not path:
        return f"{source}: {message}", None
    return f"{'.'.join(path)}: {message}", path[0]


def install(api: NinjaAPI) -> None:
    """Add the router at ``/`` and translate every error into ``{"detail", "field"}``."""
    api.add_router("/", router)

    @api.exception_handler(AuthenticationError)
    def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        detail = exc.message if exc.message != AuthenticationError().message else NO_CREDENTIALS
        response = _error(api, request, exc.status_code, detail)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    @api.exception_handler(DomainError)
    def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return _error(api, request, exc.status_code, exc.message, getattr(exc, "field", None))

    @api.exception_handler(DjangoValidationError)
    def django_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        return _error(api, request, 422, *_django_error(exc))

    @api.exception_handler(NinjaValidationError)
    def ninja_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return _error(api, request, 422, *_ninja_error(exc))

    @api.exception_handler(ProtectedError)
    def protected_error(request: HttpRequest, exc: ProtectedError) -> HttpResponse:
        count = len(exc.protected_objects)
        return _error(api, request, 409, f"cannot delete: {count} generation(s) of launched campaigns use it")
