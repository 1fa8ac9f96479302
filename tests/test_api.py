"""The REST API as an integration sees it: auth and scopes, every endpoint, errors, money."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import ApiToken, Campaign, Generation, LLMModel, Product, PromptTemplate, Provider
from tests.factories import ProductFactory, PromptTemplateFactory

BASE = "/api/v1"


class Api:
    """A client speaking JSON with a bearer token (or none)."""

    def __init__(self, token: str | None = None, client: Client | None = None) -> None:
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        kwargs: dict[str, Any] = {"headers": self.headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        elif params:
            kwargs["data"] = params
        return getattr(self.client, method)(f"{BASE}{path}", **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        return self.call("get", path, **params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("post", path, {} if body is None else body)

    def patch(self, path: str, body: Any) -> Any:
        return self.call("patch", path, body)

    def delete(self, path: str) -> Any:
        return self.call("delete", path)


@pytest.fixture
def api(user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(user, "read", "write", "launch"))


@pytest.fixture
def admin_api(staff_user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(staff_user, "admin"))


def campaign_body(catalog: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Spring launch",
        "product_ids": [p.id for p in catalog["products"]],
        "template_ids": [t.id for t in catalog["templates"]],
        "model_ids": [m.id for m in catalog["models"]],
        "variants": 2,
        "max_tokens": 64,
        "temperature": 0.5,
        "budget_usd": "1.25",
    }
    return {**body, **overrides}


def assert_error(response: Any, status: int, field: str | None = None, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["detail"], str)
    if field is not None:
        assert body["field"] == field
        assert field in body["detail"]
    for word in words:
        assert word in body["detail"]
    return body


# Authentication and scopes ------------------------------------------------------------


@pytest.mark.django_db
def test_no_token_is_401() -> None:
    response = Api().get("/products")
    assert_error(response, 401, None, "Bearer")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_wrong_token_is_401(user: Any) -> None:
    assert_error(Api("cgk_deadbeef_not-a-real-secret").get("/products"), 401, None, "token")
    assert_error(Api("garbage").get("/products"), 401)


def test_revoked_token_is_401(user: Any, make_token: Callable[..., str]) -> None:
    raw = make_token(user, "read")
    assert Api(raw).get("/products").status_code == 200
    ApiToken.objects.filter(user=user).update(revoked_at=timezone.now())
    assert_error(Api(raw).get("/products"), 401)


def test_read_only_token_cannot_write(user: Any, make_token: Callable[..., str]) -> None:
    response = Api(make_token(user, "read")).post("/products", {"name": "Mug"})
    assert_error(response, 403, None, "write")
    assert not Product.objects.exists()


def test_write_token_cannot_read(user: Any, make_token: Callable[..., str]) -> None:
    assert_error(Api(make_token(user, "write")).get("/products"), 403, None, "read")


def test_launch_needs_launch_scope(user: Any, make_token: Callable[..., str], catalog: dict[str, Any]) -> None:
    writer = Api(make_token(user, "read", "write"))
    campaign_id = writer.post("/campaigns", campaign_body(catalog)).json()["id"]
    assert_error(writer.post(f"/campaigns/{campaign_id}/launch"), 403, None, "launch")
    assert Campaign.objects.get(id=campaign_id).status == Campaign.Status.DRAFT


def test_admin_scope_implies_the_others(user: Any, make_token: Callable[..., str]) -> None:
    admin = Api(make_token(user, "admin"))
    assert admin.get("/products").status_code == 200
    assert admin.post("/products", {"name": "Mug"}).status_code == 201


def test_non_staff_cannot_register_providers(user: Any, make_token: Callable[..., str]) -> None:
    body = {"name": "OpenAI", "base_url": "https://api.openai.com/v1", "api_key": "sk-secret-9876"}
    assert_error(Api(make_token(user, "admin")).post("/providers", body), 403, None, "staff")
    assert_error(Api(make_token(user, "read", "write", "launch")).post("/providers", body), 403, None, "admin")
    assert not Provider.objects.exists()


def test_staff_token_needs_admin_scope(staff_user: Any, make_token: Callable[..., str]) -> None:
    body = {"name": "OpenAI", "base_url": "https://api.openai.com/v1"}
    assert_error(Api(make_token(staff_user, "read", "write")).post("/providers", body), 403, None, "admin")


def test_session_user_has_every_scope_but_staff_writes(user: Any, catalog: dict[str, Any]) -> None:
    client = Client()
    client.force_login(user)
    session = Api(client=client)
    assert session.get("/products").json()["count"] == 3
    assert session.post("/products", {"name": "Mug"}).status_code == 201
    campaign_id = session.post("/campaigns", campaign_body(catalog)).json()["id"]
    assert session.post(f"/campaigns/{campaign_id}/launch").status_code == 202
    assert_error(session.post("/providers", {"name": "X", "base_url": "http://localhost:1/v1"}), 403, None, "staff")


def test_staff_session_may_register_providers(staff_user: Any) -> None:
    client = Client()
    client.force_login(staff_user)
    response = Api(client=client).post("/providers", {"name": "Local", "base_url": "http://localhost:8080/v1"})
    assert response.status_code == 201
    assert response.json()["api_key_hint"] == ""


def test_session_writes_are_csrf_checked(user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert_error(Api(client=client).post("/products", {"name": "Mug"}), 403, None, "CSRF")


# Providers and models -----------------------------------------------------------------


def test_provider_create_hides_the_key(admin_api: Api, api: Api) -> None:
    body = {
        "name": "OpenAI",
        "base_url": "https://api.openai.com/v1",
        "api_key": "sk-live-secret-abcd9876",
        "max_concurrency": 8,
        "rpm_limit": 500,
        "tpm_limit": 100000,
        "timeout": 30,
    }
    created = admin_api.post("/providers", body)
    assert created.status_code == 201
    provider_id = created.json()["id"]
    responses = [created, admin_api.get("/providers"), api.get(f"/providers/{provider_id}")]
    for response in responses:
        assert "sk-live-secret" not in response.content.decode()
        assert 'api_key"' not in response.content.decode()
    out = responses[2].json()
    assert out["api_key_hint"] == "9876"
    assert {k: out[k] for k in ("name", "max_concurrency", "rpm_limit", "tpm_limit", "timeout")} == {
        "name": "OpenAI",
        "max_concurrency": 8,
        "rpm_limit": 500,
        "tpm_limit": 100000,
        "timeout": 30.0,
    }
    assert Provider.objects.get(id=provider_id).api_key == "sk-live-secret-abcd9876"


def test_provider_bad_fields_are_named(admin_api: Api) -> None:
    assert_error(admin_api.post("/providers", {"name": "X", "base_url": "not a url"}), 422, "base_url")
    assert_error(
        admin_api.post("/providers", {"name": "X", "base_url": "http://localhost:9/v1", "max_concurrency": 0}),
        422,
        "max_concurrency",
    )
    admin_api.post("/providers", {"name": "Dup", "base_url": "http://localhost:9/v1"})
    assert_error(admin_api.post("/providers", {"name": "Dup", "base_url": "http://localhost:9/v1"}), 422, "name")
    # The key goes into an HTTP header: only visible ASCII can be sent.
    for key in ("sk-caf\u00e9", "sk with space", "sk-\x00nul", "sk-\U0009cadc"):
        body = {"name": "Keyed", "base_url": "http://localhost:9/v1", "api_key": key}
        assert_error(admin_api.post("/providers", body), 422, "api_key")
    dup = Provider.objects.get(name="Dup")
    assert_error(admin_api.patch(f"/providers/{dup.id}", {"api_key": "sk-\u2603"}), 422, "api_key")


def test_model_endpoints(admin_api: Api, api: Api, catalog: dict[str, Any]) -> None:
    body = {
        "provider_id": catalog["provider"].id,
        "name": "gpt-4o-mini",
        "input_usd_per_mtok": "0.15",
        "output_usd_per_mtok": 0.6,
        "label": "GPT-4o mini",
    }
    created = admin_api.post("/models", body)
    assert created.status_code == 201
    out = created.json()
    assert out["input_usd_per_mtok"] == "0.15"
    assert out["output_usd_per_mtok"] == "0.6"
    assert out["provider_id"] == catalog["provider"].id and out["label"] == "GPT-4o mini"
    assert api.get(f"/models/{out['id']}").json() == out
    listed = api.get("/models").json()
    assert listed["count"] == 3 and out in listed["items"]
    assert_error(api.get("/models/999999"), 404)


def test_model_bad_fields_are_named(admin_api: Api, api: Api, catalog: dict[str, Any]) -> None:
    body = {"provider_id": catalog["provider"].id, "name": "m", "input_usd_per_mtok": "1", "output_usd_per_mtok": "1"}
    assert_error(admin_api.post("/models", {**body, "provider_id": 999999}), 422, "provider_id")
    assert_error(admin_api.post("/models", {**body, "input_usd_per_mtok": "-1"}), 422, "input_usd_per_mtok")
    assert_error(admin_api.post("/models", {**body, "output_usd_per_mtok": "abc"}), 422, "output_usd_per_mtok")
    assert_error(api.post("/models", body), 403)
    assert LLMModel.objects.count() == 2


# Products -------------------------------------------------------------------------------


def test_product_crud(api: Api) -> None:
    body = {"name": "Linen shirt", "description": "Breathes.", "attributes": {"color": "sand"}, "language": "fr"}
    created = api.post("/products", body)
    assert created.status_code == 201
    product = created.json()
    assert {k: product[k] for k in body} == body
    assert api.get(f"/products/{product['id']}").json() == product
    assert api.get("/products").json()["count"] == 1

    patched = api.patch(f"/products/{product['id']}", {"attributes": {"color": "navy"}})
    assert patched.status_code == 200
    assert patched.json()["attributes"] == {"color": "navy"} and patched.json()["name"] == "Linen shirt"

    assert api.delete(f"/products/{product['id']}").status_code == 204
    assert_error(api.get(f"/products/{product['id']}"), 404)


def test_product_bad_fields_are_named(api: Api) -> None:
    assert_error(api.post("/products", {"name": "X", "attributes": ["red"]}), 422, "attributes")
    assert_error(api.post("/products", {"name": "X", "attributes": "red"}), 422, "attributes")
    assert_error(api.post("/products", {"name": ""}), 422, "name")
    assert_error(api.post("/products", {"description": "no name"}), 422, "name")
    product = ProductFactory()
    assert_error(api.patch(f"/products/{product.id}", {"name": None}), 422, "name")
    assert_error(api.patch(f"/products/{product.id}", {"attributes": 3}), 422, "attributes")
    assert Product.objects.get(id=product.id).name == product.name


def test_malformed_json_is_400(api: Api) -> None:
    response = api.client.post(f"{BASE}/products", data="{nope", content_type="application/json", headers=api.headers)
    assert_error(response, 400)


def test_list_pagination(api: Api) -> None:
    for _ in range(5):
        ProductFactory()
    page = api.get("/products", limit=2, offset=1).json()
    assert page["count"] == 5 and len(page["items"]) == 2
    assert page["items"][0]["id"] == Product.objects.all()[1].id
    assert_error(api.get("/products", limit=0), 422, "limit")
    assert_error(api.get("/products", limit=1001), 422, "limit")
    assert_error(api.get("/products", offset=-1), 422, "offset")


# Templates ------------------------------------------------------------------------------


def test_template_crud(api: Api) -> None:
    body = {"name": "Tagline", "system_prompt": "Write in {{ language }}.", "body": "Sell {{ product.name }}."}
    created = api.post("/templates", body)
    assert created.status_code == 201
    template = created.json()
    assert {k: template[k] for k in body} == body
    assert api.get(f"/templates/{template['id']}").json() == template
    assert api.get("/templates").json()["count"] == 1
    patched = api.patch(f"/templates/{template['id']}", {"body": "Praise {{ product.attributes.color }}."})
    assert patched.json()["body"] == "Praise {{ product.attributes.color }}."
    assert api.delete(f"/templates/{template['id']}").status_code == 204
    assert not PromptTemplate.objects.exists()


def test_template_unknown_variable_is_422_naming_field_and_variable(api: Api) -> None:
    response = api.post("/templates", {"name": "T", "body": "Only {{ product.price }}!"})
    assert_error(response, 422, "body", "product.price")
    response = api.post("/templates", {"name": "T", "system_prompt": "{{ brand }}", "body": "{{ product.name }}"})
    assert_error(response, 422, "system_prompt", "brand")
    assert_error(api.post("/templates", {"name": "T", "body": "{% if %}"}), 422, "body")
    assert not PromptTemplate.objects.exists()

    template = PromptTemplateFactory()
    assert_error(api.patch(f"/templates/{template.id}", {"body": "{{ product.price }}"}), 422, "body", "product.price")
    template.refresh_from_db()
    assert "product.price" not in template.body


def test_catalog_in_use_cannot_be_deleted(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    api.post(f"/campaigns/{campaign_id}/launch")
    product = catalog["products"][0]
    assert_error(api.delete(f"/products/{product.id}"), 409)
    assert_error(api.delete(f"/templates/{catalog['templates'][0].id}"), 409)
    assert Product.objects.filter(id=product.id).exists()


# Campaigns ------------------------------------------------------------------------------


def test_campaign_create_and_read(api: Api, catalog: dict[str, Any]) -> None:
    created = api.post("/campaigns", campaign_body(catalog))
    assert created.status_code == 201
    out = created.json()
    assert out["status"] == "draft"
    assert out["budget_usd"] == "1.25" and out["spend_usd"] == "0"
    assert out["product_ids"] == [p.id for p in catalog["products"]]
    assert out["template_ids"] == [t.id for t in catalog["templates"]]
    assert out["model_ids"] == [m.id for m in catalog["models"]]
    assert (out["variants"], out["max_tokens"], out["temperature"]) == (2, 64, 0.5)
    for key in ("total", "succeeded", "failed", "pending", "tokens_in", "tokens_out"):
        assert out[key] == 0
    for key in ("ttft_ms_p50", "ttft_ms_p95", "latency_ms_p50", "latency_ms_p95"):
        assert out[key] is None
    assert "created_at" in out
    assert api.get(f"/campaigns/{out['id']}").json() == out
    listed = api.get("/campaigns").json()
    assert listed["count"] == 1 and listed["items"] == [out]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"budget_usd": "-0.01"}, "budget_usd"),
        ({"budget_usd": -1}, "budget_usd"),
        ({"budget_usd": "lots"}, "budget_usd"),
        ({"budget_usd": "NaN"}, "budget_usd"),
        ({"product_ids": [999999]}, "product_ids"),
        ({"product_ids": []}, "product_ids"),
        ({"template_ids": [999999]}, "template_ids"),
        ({"model_ids": "all"}, "model_ids"),
        ({"variants": 0}, "variants"),
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"name": ""}, "name"),
    ],
)
def test_campaign_bad_fields_are_named(api: Api, catalog: dict[str, Any], override: dict[str, Any], field: str) -> None:
    assert_error(api.post("/campaigns", campaign_body(catalog, **override)), 422, field)
    assert not Campaign.objects.exists()


def test_campaign_budget_accepts_numbers(api: Api, catalog: dict[str, Any]) -> None:
    out = api.post("/campaigns", campaign_body(catalog, budget_usd=2.5)).json()
    assert out["budget_usd"] == "2.5"
    assert Campaign.objects.get(id=out["id"]).budget_usd == pytest.approx(2.5)


def test_other_users_campaign_is_404(
    api: Api, other_user: Any, staff_user: Any, make_token: Callable[..., str], catalog: dict[str, Any]
) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    bob = Api(make_token(other_user, "read", "write", "launch"))
    for response in (
        bob.get(f"/campaigns/{campaign_id}"),
        bob.get(f"/campaigns/{campaign_id}/generations"),
        bob.post(f"/campaigns/{campaign_id}/launch"),
        bob.post(f"/campaigns/{campaign_id}/cancel"),
    ):
        assert_error(response, 404)
    assert bob.get("/campaigns").json() == {"items": [], "count": 0}
    assert Campaign.objects.get(id=campaign_id).status == Campaign.Status.DRAFT
    staff = Api(make_token(staff_user, "read"))
    assert staff.get(f"/campaigns/{campaign_id}").status_code == 200


def test_launch_queues_generations(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    launched = api.post(f"/campaigns/{campaign_id}/launch")
    assert launched.status_code == 202
    out = launched.json()
    assert out["status"] == "running"
    assert out["total"] == out["pending"] == 3 * 2 * 2 * 2
    assert Generation.objects.filter(campaign_id=campaign_id, status=Generation.Status.QUEUED).count() == 24

    page = api.get(f"/campaigns/{campaign_id}/generations").json()
    assert page["count"] == 24 and len(page["items"]) == 24
    item = page["items"][0]
    assert item["status"] == "queued" and item["cost_usd"] == "0" and item["text"] == ""
    expected = {"id", "product_id", "template_id", "model_id", "variant", "status", "text", "ttft_ms"}
    expected |= {"latency_ms", "tokens_in", "tokens_out", "cost_usd", "cost_source", "attempts", "error"}
    assert expected <= set(item)


def test_launch_twice_is_409(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    assert api.post(f"/campaigns/{campaign_id}/launch").status_code == 202
    assert_error(api.post(f"/campaigns/{campaign_id}/launch"), 409, None, "draft")
    assert Generation.objects.filter(campaign_id=campaign_id).count() == 24


def test_cancel(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    assert_error(api.post(f"/campaigns/{campaign_id}/cancel"), 409)
    api.post(f"/campaigns/{campaign_id}/launch")
    cancelled = api.post(f"/campaigns/{campaign_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["pending"] == 0
    page = api.get(f"/campaigns/{campaign_id}/generations", status="cancelled").json()
    assert page["count"] == 24


def test_generations_filter_and_page(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    api.post(f"/campaigns/{campaign_id}/launch")
    first = Generation.objects.filter(campaign_id=campaign_id).order_by("id").first()
    assert first is not None
    Generation.objects.filter(id=first.id).update(
        status=Generation.Status.SUCCEEDED, text="Hello", cost_usd="0.000123", cost_source="reported"
    )
    done = api.get(f"/campaigns/{campaign_id}/generations", status="succeeded").json()
    assert done["count"] == 1
    assert done["items"][0]["cost_usd"] == "0.000123" and done["items"][0]["text"] == "Hello"
    assert api.get(f"/campaigns/{campaign_id}").json()["spend_usd"] == "0.000123"
    page = api.get(f"/campaigns/{campaign_id}/generations", limit=5, offset=20).json()
    assert page["count"] == 24 and len(page["items"]) == 4
    assert_error(api.get(f"/campaigns/{campaign_id}/generations", status="done"), 422, "status")
    assert_error(api.get(f"/campaigns/{campaign_id}/generations", limit=5000), 422, "limit")


def test_money_fields_are_strings(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    api.post(f"/campaigns/{campaign_id}/launch")
    campaign = api.get(f"/campaigns/{campaign_id}").json()
    model = api.get(f"/models/{catalog['models'][1].id}").json()
    generation = api.get(f"/campaigns/{campaign_id}/generations", limit=1).json()["items"][0]
    values = [campaign["spend_usd"], campaign["budget_usd"], generation["cost_usd"]]
    values += [model["input_usd_per_mtok"], model["output_usd_per_mtok"]]
    assert all(isinstance(v, str) for v in values)
    assert (model["input_usd_per_mtok"], model["output_usd_per_mtok"]) == ("0.5", "1.5")


# OpenAPI ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_openapi_lists_the_paths() -> None:
    response = Client().get(f"{BASE}/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    paths = set(schema["paths"])
    for path in (
        "/providers",
        "/providers/{provider_id}",
        "/models",
        "/models/{model_id}",
        "/products",
        "/products/{product_id}",
        "/templates",
        "/templates/{template_id}",
        "/campaigns",
        "/campaigns/{campaign_id}",
        "/campaigns/{campaign_id}/launch",
        "/campaigns/{campaign_id}/cancel",
        "/campaigns/{campaign_id}/generations",
    ):
        assert f"{BASE}{path}" in paths
    assert "bearer" in json.dumps(schema["components"]["securitySchemes"]).lower()
    assert "api_key" not in schema["components"]["schemas"]["ProviderOut"]["properties"]


@pytest.mark.django_db
def test_docs_are_served() -> None:
    assert Client().get(f"{BASE}/docs").status_code == 200
