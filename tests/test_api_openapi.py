"""The OpenAPI contract: every operation documents its responses, POSTs their Idempotency-Key, examples are valid."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import jsonschema_rs
import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from ninja import Schema
from pydantic import TypeAdapter, ValidationError

import campaigns.schemas as schemas
from campaigns.schemas.common import Budget, PatchSchema, Price
from tests.test_api import Api, assert_error

BASE = "/api/v1"
METHODS = {"get", "post", "patch", "put", "delete"}


@pytest.fixture(scope="module")
def openapi(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return Client().get(f"{BASE}/openapi.json").json()


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op) for path, ops in openapi["paths"].items() for method, op in ops.items() if method in METHODS
    ]


def test_every_resource_is_there(openapi: dict[str, Any]) -> None:
    present = {(method.upper(), path.removeprefix(BASE)) for method, path, _ in operations(openapi)}
    for resource in ("products", "templates", "providers", "models", "campaigns", "tokens"):
        key = resource[:-1] if resource != "models" else "model"
        assert {("GET", f"/{resource}"), ("POST", f"/{resource}")} <= present
        assert ("GET", f"/{resource}/{{{key}_id}}") in present
        assert ("DELETE", f"/{resource}/{{{key}_id}}") in present
    for extra in [
        ("PATCH", "/products/{product_id}"),
        ("POST", "/products/import"),
        ("PATCH", "/campaigns/{campaign_id}"),
        ("POST", "/campaigns/{campaign_id}/launch"),
        ("POST", "/campaigns/{campaign_id}/cancel"),
        ("GET", "/campaigns/{campaign_id}/generations"),
        ("GET", "/campaigns/{campaign_id}/events"),
        ("GET", "/campaigns/{campaign_id}/estimate"),
        ("GET", "/campaigns/{campaign_id}/export"),
        ("POST", "/estimate"),
        ("GET", "/generations"),
        ("GET", "/generations/{generation_id}"),
        ("PATCH", "/generations/{generation_id}"),
    ]:
        assert extra in present


def test_every_operation_documents_its_errors_and_has_a_readable_id(openapi: dict[str, Any]) -> None:
    for method, path, op in operations(openapi):
        codes = set(op["responses"])
        assert {"401", "403", "422"} <= codes, (method, path)
        assert any(code.startswith("2") for code in codes), (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        if method in {"post", "patch"}:
            assert {"400", "413"} <= codes, (method, path)
        assert op["operationId"].isidentifier() and not op["operationId"].startswith("campaigns_"), op["operationId"]
        assert op.get("tags"), (method, path)
        error_schema = op["responses"]["401"]["content"]["application/json"]["schema"]
        assert error_schema == {"$ref": "#/components/schemas/ErrorOut"}


def test_every_post_takes_an_idempotency_key_and_documents_409(openapi: dict[str, Any]) -> None:
    posts = [(path, op) for method, path, op in operations(openapi) if method == "post"]
    assert len(posts) >= 10
    for path, op in posts:
        names = [p["name"] for p in op["parameters"] if p["in"] == "header"]
        assert names.count("Idempotency-Key") == 1, path
        assert "409" in op["responses"], path


def test_streams_and_downloads_document_their_media_types(openapi: dict[str, Any]) -> None:
    events = openapi["paths"][f"{BASE}/campaigns/{{campaign_id}}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    assert "Last-Event-ID" in [p["name"] for p in events["parameters"]]
    export = openapi["paths"][f"{BASE}/campaigns/{{campaign_id}}/export"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv; charset=utf-8"} <= set(export)
    assert any("spreadsheetml" in media for media in export)


def test_create_responses_link_to_the_operations_on_the_new_object(openapi: dict[str, Any]) -> None:
    created = openapi["paths"][f"{BASE}/campaigns"]["post"]["responses"]["201"]
    targets = {link["operationId"] for link in created["links"].values()}
    assert {"campaign_detail", "campaign_launch", "campaign_cancel", "campaign_export"} <= targets
    ids = {op["operationId"] for _, _, op in operations(openapi)}
    for _, _, op in operations(openapi):
        for response in op["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in ids


def schema_classes() -> list[type[Schema]]:
    return [
        obj for name in schemas.__all__ if isinstance(obj := getattr(schemas, name), type) and issubclass(obj, Schema)
    ]


@pytest.mark.parametrize("schema", schema_classes(), ids=lambda s: s.__name__)
def test_examples_are_valid(schema: type[Schema]) -> None:
    examples = (schema.model_config.get("json_schema_extra") or {}).get("examples", [])  # type: ignore[union-attr]
    for example in examples:
        schema.model_validate(example)


def test_main_schemas_have_examples(openapi: dict[str, Any]) -> None:
    components = openapi["components"]["schemas"]
    for name in ("ProductIn", "ProductOut", "CampaignIn", "CampaignOut", "GenerationOut", "EstimateOut", "ImportOut"):
        assert components[name].get("examples"), name


# The schema says what the server enforces: what it documents as valid is accepted.


@pytest.mark.parametrize(
    "schema",
    [s for s in schema_classes() if issubclass(s, PatchSchema) and s is not PatchSchema],
    ids=lambda s: s.__name__,
)
def test_patch_fields_are_documented_nullable_exactly_when_null_is_accepted(
    schema: type[PatchSchema], openapi: dict[str, Any]
) -> None:
    properties = openapi["components"]["schemas"][schema.__name__]["properties"]
    assert properties
    for name, prop in properties.items():
        documented = {"type": "null"} in prop.get("anyOf", ())
        try:
            schema.model_validate({name: None})
            accepted = True
        except ValidationError:
            accepted = False
        assert documented == accepted, (name, prop)
        assert "default" not in prop or prop["default"] is not None, name


@pytest.mark.parametrize("amount", [Price, Budget], ids=["price", "budget"])
@given(data=st.data())
def test_every_decimal_string_the_schema_allows_is_accepted_exactly(amount: Any, data: st.DataObject) -> None:
    adapter = TypeAdapter(amount)
    pattern = adapter.json_schema()["pattern"]
    text = data.draw(st.from_regex(pattern, fullmatch=True))
    assert adapter.validate_python(text) == Decimal(text)


def test_amounts_the_schema_forbids_are_refused(openapi: dict[str, Any]) -> None:
    price = openapi["components"]["schemas"]["LLMModelIn"]["properties"]["input_usd_per_mtok"]
    validator = jsonschema_rs.validator_for(price)
    adapter = TypeAdapter(Price)
    for text in ["", "-1", "1.1234567", "123456789", "NaN", "1e3"]:
        assert not validator.is_valid(text), text
    for text in ["", "-1", "1.1234567", "123456789", "NaN"]:
        with pytest.raises(ValidationError):
            adapter.validate_python(text)


QUOTA_BODIES = [
    ({"scope": "user"}, False),
    ({"scope": "user", "token_id": "TOKEN"}, False),
    ({"scope": "user", "user_id": "USER", "token_id": "TOKEN"}, False),
    ({"scope": "token", "user_id": "USER"}, False),
    ({"scope": "global", "user_id": "USER"}, False),
    ({"scope": "global"}, True),
    ({"scope": "global", "token_id": None, "user_id": None}, True),
    ({"scope": "user", "user_id": "USER", "token_id": None}, True),
    ({"scope": "token", "token_id": "TOKEN"}, True),
]


@pytest.mark.parametrize(("body", "valid"), QUOTA_BODIES)
def test_quota_scope_rules_in_the_schema_are_the_servers(
    body: dict[str, Any], valid: bool, openapi: dict[str, Any], staff_user: Any, make_token: Callable[..., str]
) -> None:
    from campaigns.models import ApiToken

    admin = Api(make_token(staff_user, "admin"))
    ids = {"USER": staff_user.pk, "TOKEN": ApiToken.objects.get().pk}
    body = {key: ids.get(value, value) for key, value in body.items()} | {"limit_usd": "10"}
    quota_in = openapi["components"]["schemas"]["QuotaIn"]
    assert jsonschema_rs.validator_for(quota_in).is_valid(body) == valid
    response = admin.post("/quotas", body)
    if valid:
        assert response.status_code == 201, response.content
    else:
        assert_error(response, 422)


@pytest.mark.django_db
def test_a_duplicate_across_fields_names_the_field_to_change(
    staff_user: Any, make_token: Callable[..., str], catalog: dict[str, Any]
) -> None:
    admin = Api(make_token(staff_user, "admin"))
    model = catalog["models"][0]
    body = {"provider_id": model.provider_id, "name": model.name, "input_usd_per_mtok": "1", "output_usd_per_mtok": "2"}
    assert_error(admin.post("/models", body), 422, "name", "already exists")


def test_amount_fields_keep_their_descriptions(openapi: dict[str, Any]) -> None:
    components = openapi["components"]["schemas"]
    for schema in ("QuotaIn", "QuotaPatch"):
        assert "USD per period" in components[schema]["properties"]["limit_usd"].get("description", ""), schema
