"""The OpenAPI contract: every operation documents its responses, POSTs their Idempotency-Key, examples are valid."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from ninja import Schema

import campaigns.schemas as schemas

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
