"""Every resource in full: filters, ordering, updates, deletes, tokens, input hygiene."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from campaigns.models import ApiToken, Campaign, Generation, LLMModel, Product, Provider
from tests.factories import LLMModelFactory, ProductFactory, PromptTemplateFactory, ProviderFactory
from tests.test_api import Api, assert_error, campaign_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(user, "read", "write", "launch"))


@pytest.fixture
def admin_api(staff_user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(staff_user, "admin"))


def names(page: Any) -> list[str]:
    """The names on a page (a response or its JSON)."""
    body = page if isinstance(page, dict) else page.json()
    return [item["name"] for item in body["items"]]


# Lists: filters and ordering --------------------------------------------------------------


def test_product_filters_and_ordering(api: Api) -> None:
    ProductFactory(name="Blue mug", description="Stoneware.", language="en")
    ProductFactory(name="Tasse", description="A blue cup.", language="fr")
    ProductFactory(name="Anchor", description="Heavy.", language="en")
    assert names(api.get("/products")) == ["Anchor", "Blue mug", "Tasse"]
    assert names(api.get("/products", ordering="-name")) == ["Tasse", "Blue mug", "Anchor"]
    page = api.get("/products", search="BLUE").json()
    assert page["count"] == 2 and names(page) == ["Blue mug", "Tasse"]
    assert names(api.get("/products", language="fr")) == ["Tasse"]
    newest = api.get("/products", ordering="-created_at", limit=1).json()
    assert newest["count"] == 3 and names(newest) == ["Anchor"]
    assert_error(api.get("/products", ordering="price"), 422, "ordering")


def test_template_filters(api: Api) -> None:
    PromptTemplateFactory(name="Tagline", body="Tag {{ product.name }}")
    PromptTemplateFactory(name="Long copy", body="Describe {{ product.description }}")
    assert names(api.get("/templates", search="describe")) == ["Long copy"]
    assert names(api.get("/templates", ordering="-name")) == ["Tagline", "Long copy"]


def test_model_filters(api: Api, catalog: dict[str, Any]) -> None:
    other = ProviderFactory(name="Other")
    LLMModelFactory(provider=other, name="cheap", input_usd_per_mtok="0.01", is_active=False)
    assert api.get("/models", provider_id=other.id).json()["count"] == 1
    assert api.get("/models", is_active="false").json()["count"] == 1
    assert api.get("/models", is_active="true").json()["count"] == 2
    cheapest = api.get("/models", ordering="input_usd_per_mtok").json()["items"][0]
    assert cheapest["name"] == "cheap" and cheapest["input_usd_per_mtok"] == "0.01"
    assert api.get("/models", search="sim-b").json()["count"] == 1


def test_campaign_filters(api: Api, catalog: dict[str, Any]) -> None:
    first = api.post("/campaigns", campaign_body(catalog, name="Autumn")).json()
    api.post("/campaigns", campaign_body(catalog, name="Spring"))
    api.post(f"/campaigns/{first['id']}/launch")
    assert names(api.get("/campaigns")) == ["Spring", "Autumn"]
    assert names(api.get("/campaigns", status="running")) == ["Autumn"]
    assert names(api.get("/campaigns", search="spr")) == ["Spring"]
    assert names(api.get("/campaigns", ordering="name")) == ["Autumn", "Spring"]
    assert_error(api.get("/campaigns", status="done"), 422, "status")


def test_the_campaign_list_has_each_campaigns_stats_in_a_fixed_number_of_queries(
    api: Api, catalog: dict[str, Any]
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def list_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/campaigns", limit=50).status_code == 200
        return len(queries)

    ids = [api.post("/campaigns", campaign_body(catalog, name=f"C{i}")).json()["id"] for i in range(2)]
    for cid in ids:
        api.post(f"/campaigns/{cid}/launch")
    done = Generation.objects.filter(campaign_id=ids[0]).order_by("id")[:3]
    for n, gen in enumerate(done, start=1):
        Generation.objects.filter(id=gen.id).update(
            status="succeeded", ttft_ms=10 * n, latency_ms=100 * n, cost_usd=Decimal("0.01"), tokens_out=n
        )
    two = list_queries()
    listed = {c["id"]: c for c in api.get("/campaigns").json()["items"]}
    for cid in ids:
        assert listed[cid] == api.get(f"/campaigns/{cid}").json(), "the list and the detail agree"
    assert listed[ids[0]]["succeeded"] == 3 and listed[ids[0]]["ttft_ms_p50"] == 20
    assert listed[ids[0]]["spend_usd"] == "0.03" and listed[ids[1]]["succeeded"] == 0
    for i in range(4):
        api.post("/campaigns", campaign_body(catalog, name=f"More {i}"))
    assert list_queries() == two, "no query per campaign"


def test_generation_filters_and_ordering(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog, variants=1)).json()["id"]
    api.post(f"/campaigns/{campaign_id}/launch")
    gens = list(Generation.objects.filter(campaign_id=campaign_id).order_by("id"))
    Generation.objects.filter(id=gens[0].id).update(status="succeeded", cost_usd="0.3", rating=5, approved=True)
    Generation.objects.filter(id=gens[1].id).update(status="succeeded", cost_usd="0.1", rating=2)
    path = f"/campaigns/{campaign_id}/generations"
    assert api.get(path, approved="true").json()["count"] == 1
    assert api.get(path, rating=2).json()["items"][0]["id"] == gens[1].id
    assert api.get(path, model_id=catalog["models"][0].id).json()["count"] == 6
    assert (
        api.get(path, product_id=catalog["products"][0].id, template_id=catalog["templates"][0].id).json()["count"] == 2
    )
    by_cost = api.get(path, ordering="-cost_usd", limit=2).json()["items"]
    assert [g["id"] for g in by_cost] == [gens[0].id, gens[1].id]
    everywhere = api.get("/generations", campaign_id=campaign_id, status="succeeded").json()
    assert everywhere["count"] == 2
    assert_error(api.get(path, rating=6), 422, "rating")


# Updates and deletes ----------------------------------------------------------------------


def test_provider_update_rotates_the_key_and_delete_is_protected(admin_api: Api, catalog: dict[str, Any]) -> None:
    provider = catalog["provider"]
    patched = admin_api.patch(f"/providers/{provider.id}", {"api_key": "sk-new-secret-5678", "rpm_limit": None})
    assert patched.status_code == 200, patched.content
    assert patched.json()["api_key_hint"] == "5678" and patched.json()["rpm_limit"] is None
    assert "sk-new-secret" not in patched.content.decode()
    provider.refresh_from_db()
    assert provider.api_key == "sk-new-secret-5678"
    assert_error(admin_api.patch(f"/providers/{provider.id}", {"max_concurrency": None}), 422, "max_concurrency")
    assert_error(admin_api.patch(f"/providers/{provider.id}", {"base_url": "nope"}), 422, "base_url")
    assert_error(admin_api.delete(f"/providers/{provider.id}"), 409)
    empty = ProviderFactory(name="Unused")
    assert admin_api.delete(f"/providers/{empty.id}").status_code == 204
    assert not Provider.objects.filter(id=empty.id).exists()


def test_model_update_and_delete(admin_api: Api, api: Api, catalog: dict[str, Any]) -> None:
    model_a, model_b = catalog["models"]
    patched = admin_api.patch(f"/models/{model_a.id}", {"output_usd_per_mtok": "0.75", "fallback_id": model_b.id})
    assert patched.status_code == 200, patched.content
    assert patched.json()["output_usd_per_mtok"] == "0.75" and patched.json()["fallback_id"] == model_b.id
    assert_error(admin_api.patch(f"/models/{model_a.id}", {"fallback_id": model_a.id}), 422, "fallback_id")
    assert_error(admin_api.patch(f"/models/{model_a.id}", {"fallback_id": 999999}), 422, "fallback_id")
    assert admin_api.patch(f"/models/{model_a.id}", {"fallback_id": None}).json()["fallback_id"] is None
    assert_error(api.patch(f"/models/{model_a.id}", {"label": "x"}), 403, None, "admin")
    assert admin_api.delete(f"/models/{model_b.id}").status_code == 204
    assert not LLMModel.objects.filter(id=model_b.id).exists()


def test_campaign_update_in_draft_then_only_name_and_budget(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    patched = api.patch(
        f"/campaigns/{campaign_id}",
        {"variants": 1, "model_ids": [catalog["models"][1].id], "languages": ["de", "fr"], "budget_usd": "3"},
    )
    assert patched.status_code == 200, patched.content
    out = patched.json()
    assert (out["variants"], out["model_ids"], out["languages"]) == (1, [catalog["models"][1].id], ["de", "fr"])
    assert out["budget_usd"] == "3"
    assert_error(api.patch(f"/campaigns/{campaign_id}", {"product_ids": [999999]}), 422, "product_ids")
    assert_error(api.patch(f"/campaigns/{campaign_id}", {"languages": ["x" * 36]}), 422, "languages", "35")
    assert api.get(f"/campaigns/{campaign_id}").json()["languages"] == ["de", "fr"]

    launched = api.post(f"/campaigns/{campaign_id}/launch").json()
    assert launched["total"] == 3 * 2 * 1 * 1 * 2  # products × templates × models × variants × languages
    assert_error(api.patch(f"/campaigns/{campaign_id}", {"variants": 3}), 409, None, "draft")
    renamed = api.patch(f"/campaigns/{campaign_id}", {"name": "Renamed", "budget_usd": "4.5"}).json()
    assert renamed["name"] == "Renamed" and renamed["budget_usd"] == "4.5"


def test_inactive_models_are_refused_on_create_and_update(api: Api, catalog: dict[str, Any]) -> None:
    retired = LLMModelFactory(provider=catalog["provider"], name="retired", is_active=False)
    body = campaign_body(catalog, model_ids=[catalog["models"][0].id, retired.id])
    assert_error(api.post("/campaigns", body), 422, "model_ids", "inactive model retired")
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    assert_error(api.patch(f"/campaigns/{campaign_id}", {"model_ids": [retired.id]}), 422, "model_ids", "retired")
    assert api.get(f"/campaigns/{campaign_id}").json()["model_ids"] == [m.id for m in catalog["models"]]


def test_campaign_delete(api: Api, catalog: dict[str, Any]) -> None:
    draft = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    assert api.delete(f"/campaigns/{draft}").status_code == 204
    running = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    api.post(f"/campaigns/{running}/launch")
    assert_error(api.delete(f"/campaigns/{running}"), 409, None, "cancel")
    api.post(f"/campaigns/{running}/cancel")
    assert api.delete(f"/campaigns/{running}").status_code == 204
    assert not Campaign.objects.exists() and not Generation.objects.exists()


# Other users' objects -----------------------------------------------------------------------


def test_other_users_objects_are_404(
    api: Api, other_user: Any, make_token: Callable[..., str], catalog: dict[str, Any]
) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    api.post(f"/campaigns/{campaign_id}/launch")
    generation = Generation.objects.filter(campaign_id=campaign_id).first()
    assert generation is not None
    bob = Api(make_token(other_user, "read", "write", "launch", "admin"))
    for response in (
        bob.patch(f"/campaigns/{campaign_id}", {"name": "mine"}),
        bob.delete(f"/campaigns/{campaign_id}"),
        bob.get(f"/campaigns/{campaign_id}/estimate"),
        bob.get(f"/campaigns/{campaign_id}/export"),
        bob.get(f"/campaigns/{campaign_id}/events"),
        bob.get(f"/generations/{generation.id}"),
        bob.patch(f"/generations/{generation.id}", {"rating": 1}),
        bob.get(f"/tokens/{ApiToken.objects.filter(user__username='alice').first().id}"),  # type: ignore[union-attr]
    ):
        assert_error(response, 404)
    assert bob.get("/generations").json()["count"] == 0


# Tokens ---------------------------------------------------------------------------------------


def test_tokens_create_list_and_revoke(user: Any, make_token: Callable[..., str]) -> None:
    admin = Api(make_token(user, "admin"))
    created = admin.post("/tokens", {"name": "shop sync", "scopes": ["read", "write"]})
    assert created.status_code == 201, created.content
    out = created.json()
    raw = out["token"]
    assert raw.startswith(f"cgk_{out['prefix']}_") and out["scopes"] == ["read", "write"]
    assert Api(raw).get("/products").status_code == 200
    listed = admin.get("/tokens").json()
    assert listed["count"] == 2 and all("token" not in t for t in listed["items"])
    assert raw not in admin.get(f"/tokens/{out['id']}").content.decode()

    assert admin.delete(f"/tokens/{out['id']}").status_code == 204
    assert_error(Api(raw).get("/products"), 401)
    assert admin.get(f"/tokens/{out['id']}").json()["revoked_at"] is not None


def test_tokens_need_admin_scope_and_valid_input(user: Any, make_token: Callable[..., str]) -> None:
    writer = Api(make_token(user, "read", "write", "launch"))
    assert_error(writer.get("/tokens"), 403, None, "admin")
    assert_error(writer.post("/tokens", {"scopes": ["read"]}), 403, None, "admin")
    admin = Api(make_token(user, "admin"))
    assert_error(admin.post("/tokens", {"scopes": []}), 422, "scopes")
    assert_error(admin.post("/tokens", {"scopes": ["root"]}), 422, "scopes")
    past = (timezone.now() - timezone.timedelta(days=1)).isoformat()
    assert_error(admin.post("/tokens", {"scopes": ["read"], "expires_at": past}), 422, "expires_at")
    assert_error(
        admin.post("/tokens", {"scopes": ["read"], "expires_at": "9999-12-31T23:59:59-23:59"}), 422, "expires_at"
    )
    assert ApiToken.objects.filter(user=user).count() == 2


def test_a_token_rate_limit_is_set_at_creation_and_changed_later(
    user: Any, staff_user: Any, make_token: Callable[..., str]
) -> None:
    admin = Api(make_token(user, "admin"))
    created = admin.post("/tokens", {"name": "shop sync", "scopes": ["read"], "rate_limit_per_minute": 30})
    assert created.status_code == 201 and created.json()["rate_limit_per_minute"] == 30
    token_id = created.json()["id"]
    assert admin.post("/tokens", {"scopes": ["read"]}).json()["rate_limit_per_minute"] == 600, "the default"

    assert_error(admin.post("/tokens", {"scopes": ["read"], "rate_limit_per_minute": 0}), 422, "rate_limit_per_minute")
    over = admin.post("/tokens", {"scopes": ["read"], "rate_limit_per_minute": 601})
    assert_error(over, 422, "rate_limit_per_minute", "staff")
    assert_error(admin.patch(f"/tokens/{token_id}", {"rate_limit_per_minute": 5000}), 422, "rate_limit_per_minute")

    renamed = admin.patch(f"/tokens/{token_id}", {"name": "nightly sync", "rate_limit_per_minute": 10})
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["name"] == "nightly sync" and renamed.json()["rate_limit_per_minute"] == 10
    assert ApiToken.objects.get(id=token_id).rate_limit_per_minute == 10

    staff = Api(make_token(staff_user, "admin"))
    assert staff.post("/tokens", {"scopes": ["read"], "rate_limit_per_minute": 6000}).status_code == 201
    assert_error(staff.patch(f"/tokens/{token_id}", {"name": "mine now"}), 404)  # tokens are personal


# Input hygiene ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Mug\x00"}, "name"),
        ({"name": "Mug", "description": "a\x00b"}, "description"),
        ({"name": "Mug", "attributes": {"k\x00": "v"}}, "attributes"),
        ({"name": "Mug", "attributes": {"deep": [{"x": "\x00"}]}}, "attributes"),
        ({"name": "Mug", "attributes": {"n": float("nan")}}, "attributes"),
        ({"name": "Mug", "description": "\ud800"}, "description"),
    ],
)
def test_unstorable_text_and_numbers_are_422(api: Api, body: dict[str, Any], field: str) -> None:
    import json

    raw = json.dumps(body)  # allow_nan and lone surrogates, as a careless client would send them
    response = api.client.post("/api/v1/products", data=raw, content_type="application/json", headers=api.headers)
    assert_error(response, 422, field)
    assert not Product.objects.exists()


def test_ids_out_of_range_are_422_not_500(api: Api, catalog: dict[str, Any]) -> None:
    assert_error(api.get(f"/products/{2**64}"), 422, "product_id")
    assert_error(api.get("/products/0"), 422, "product_id")
    assert_error(api.get("/products/-1"), 422, "product_id")
    assert_error(api.get("/products", offset=2**40), 422, "offset")
    assert_error(api.post("/campaigns", campaign_body(catalog, product_ids=[2**70])), 422, "product_ids")
    assert_error(api.get("/generations", campaign_id=2**64), 422, "campaign_id")
    assert_error(api.get("/products", search="a\x00"), 422, "search")


def test_money_in_campaign_update_is_decimal(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    api.patch(f"/campaigns/{campaign_id}", {"budget_usd": 0.1})
    assert Campaign.objects.get(id=campaign_id).budget_usd == Decimal("0.1")


# Launch: the token, quotas, pinned templates ------------------------------------------------


def test_launch_records_the_token_and_its_quota_applies(api: Api, user: Any, catalog: dict[str, Any]) -> None:
    from campaigns.models import Quota

    capped_raw = api.headers["Authorization"].removeprefix("Bearer ")
    capped = ApiToken.objects.get(prefix=capped_raw.split("_")[1])
    Quota.objects.create(scope=Quota.Scope.TOKEN, token=capped, period=Quota.Period.TOTAL, limit_usd=Decimal(0))
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    refused = assert_error(api.post(f"/campaigns/{campaign_id}/launch"), 402)
    assert refused["detail"]
    assert Campaign.objects.get(id=campaign_id).status == Campaign.Status.DRAFT

    from campaigns.services.tokens import token_create

    other, raw = token_create(user=user, scopes=["launch", "read"])
    assert Api(raw).post(f"/campaigns/{campaign_id}/launch").status_code == 202
    assert Campaign.objects.get(id=campaign_id).launched_by_token_id == other.id


def test_changing_templates_of_a_draft_pins_their_current_text(api: Api, catalog: dict[str, Any]) -> None:
    first, second = catalog["templates"]
    body = campaign_body(catalog, template_ids=[first.id], model_ids=[catalog["models"][0].id], variants=1)
    campaign_id = api.post("/campaigns", body).json()["id"]
    api.patch(f"/templates/{second.id}", {"body": "Pinned {{ product.name }}."})
    api.patch(f"/campaigns/{campaign_id}", {"template_ids": [second.id]})
    api.patch(f"/templates/{second.id}", {"body": "Edited later {{ product.name }}."})
    api.post(f"/campaigns/{campaign_id}/launch")
    texts = {g.prompt.messages[-1]["content"] for g in Generation.objects.filter(campaign_id=campaign_id)}
    assert texts == {f"Pinned {p.name}." for p in catalog["products"]}
