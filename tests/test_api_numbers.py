"""Booleans are not numbers: ``true`` where the schema says integer or number is a 422 naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.test_api import Api, assert_error, campaign_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(staff_user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(staff_user, "admin"))


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_tokens", True), ("variants", True), ("temperature", False), ("product_ids", [True]), ("team_id", True)],
)
def test_a_campaign_refuses_booleans_for_numbers(api: Api, catalog: dict[str, Any], field: str, value: Any) -> None:
    assert_error(api.post("/campaigns", campaign_body(catalog, **{field: value})), 422, field, "not true or false")


def test_estimate_and_patch_refuse_booleans_for_numbers(api: Api, catalog: dict[str, Any]) -> None:
    body = {k: v for k, v in campaign_body(catalog).items() if k not in {"name", "budget_usd"}}
    assert_error(api.post("/estimate", {**body, "max_tokens": True}), 422, "max_tokens")
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    assert_error(api.patch(f"/campaigns/{campaign_id}", {"variants": True}), 422, "variants")
    assert_error(api.patch(f"/campaigns/{campaign_id}", {"model_ids": [True]}), 422, "model_ids")


def test_providers_and_tokens_refuse_booleans_for_numbers(api: Api) -> None:
    body = {"name": "P", "base_url": "http://127.0.0.1:9/v1"}
    assert_error(api.post("/providers", {**body, "max_concurrency": True}), 422, "max_concurrency")
    assert_error(api.post("/providers", {**body, "timeout": True}), 422, "timeout")
    assert_error(api.post("/tokens", {"scopes": ["read"], "rate_limit_per_minute": True}), 422, "rate_limit_per_minute")


def test_numbers_and_real_booleans_still_work(api: Api, catalog: dict[str, Any]) -> None:
    response = api.post("/campaigns", campaign_body(catalog, max_tokens=1, variants=1, temperature=1))
    assert response.status_code == 201, response.content
    assert response.json()["max_tokens"] == 1
