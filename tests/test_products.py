"""One set of product rules for the UI form, the API, the admin and the importers; and
catalog pages that stay up whatever a product row holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from campaigns.models import Product
from campaigns.services.products import MAX_ATTRIBUTES_BYTES, MAX_ATTRIBUTES_DEPTH, attributes_problem
from tests.factories import ProductFactory
from tests.test_api import Api, assert_error

pytestmark = pytest.mark.django_db


def nested(levels: int) -> dict[str, Any]:
    """A JSON object ``levels`` deep (the object itself is level 1)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def nested_text(levels: int) -> str:
    return '{"a":' * (levels - 1) + '{"leaf":1}' + "}" * (levels - 1)


@pytest.fixture
def api(user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(user, "read", "write"))


# The rules ---------------------------------------------------------------------------------


def test_attribute_rules_are_named_and_bounded_without_recursion() -> None:
    assert attributes_problem(nested(MAX_ATTRIBUTES_DEPTH)) is None
    assert attributes_problem(nested(MAX_ATTRIBUTES_DEPTH + 1)) == f"must be nested at most {MAX_ATTRIBUTES_DEPTH} levels deep"
    assert attributes_problem(nested(100_000)) is not None  # no RecursionError
    assert attributes_problem({"x": float("nan")}) == "numbers must be finite (no NaN or Infinity)"
    assert attributes_problem({"x": "a\x00b"}) == "text must not contain NUL characters"
    assert attributes_problem(["a"]) == "must be a JSON object"
    assert "bytes" in (attributes_problem({"x": "y" * MAX_ATTRIBUTES_BYTES}) or "")


# The UI form -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ('{"weight": NaN}', "finite"),
        ('{"color": "blue\\u0000"}', "NUL"),
        (nested_text(MAX_ATTRIBUTES_DEPTH + 1), "levels deep"),
        (nested_text(40_000), "levels deep"),
        (json.dumps({"x": "y" * MAX_ATTRIBUTES_BYTES}), "bytes"),
    ],
)
def test_the_product_form_refuses_what_the_api_refuses(client: Client, user: Any, attributes: str, words: str) -> None:
    client.force_login(user)
    response = client.post("/products/new/", {"name": "Shoe", "description": "", "attributes": attributes, "language": "en"})
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not Product.objects.exists()


def test_the_product_form_refuses_a_description_over_the_limit(client: Client, user: Any) -> None:
    client.force_login(user)
    response = client.post("/products/new/", {"name": "Shoe", "description": "x" * 100_001, "attributes": "{}", "language": "en"})
    assert response.status_code == 200 and not Product.objects.exists()


# The API -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        (nested(MAX_ATTRIBUTES_DEPTH + 1), "levels deep"),
        ({"x": "y" * MAX_ATTRIBUTES_BYTES}, "bytes"),
    ],
)
def test_the_api_refuses_attributes_over_the_limits_naming_the_field(api: Api, attributes: Any, words: str) -> None:
    assert_error(api.post("/products", {"name": "Shoe", "attributes": attributes}), 422, "attributes", words)
    product_id = api.post("/products", {"name": "Shoe"}).json()["id"]
    assert_error(api.patch(f"/products/{product_id}", {"attributes": attributes}), 422, "attributes", words)


def test_the_api_refuses_very_deep_json_with_a_4xx(api: Api) -> None:
    body = '{"name": "Shoe", "attributes": ' + nested_text(970) + "}"
    response = api.client.post("/api/v1/products", body, content_type="application/json", headers=api.headers)
    assert 400 <= response.status_code < 500, response.content
    assert not Product.objects.exists()


def test_the_api_accepts_attributes_at_the_limits(api: Api) -> None:
    response = api.post("/products", {"name": "Shoe", "attributes": nested(MAX_ATTRIBUTES_DEPTH)})
    assert response.status_code == 201, response.content


# The importers and the admin ---------------------------------------------------------------


def test_the_importer_refuses_deep_attributes_by_row(api: Api) -> None:
    content = "name,attributes\nGood,{}\n" + f'Deep,"{nested_text(MAX_ATTRIBUTES_DEPTH + 1).replace(chr(34), chr(34) * 2)}"\n'
    file = SimpleUploadedFile("products.csv", content.encode(), content_type="text/csv")
    response = api.client.post("/api/v1/products/import", {"file": file}, headers=api.headers)
    body = assert_error(response, 422, "file")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "attributes")]
    assert not Product.objects.exists()


def test_the_shopify_importer_applies_the_same_rules(api: Api) -> None:
    content = "Handle,Title,Body (HTML)\nshoe,Shoe,<p>x</p>\nlong,Long," + "y" * 100_001 + "\n"
    file = SimpleUploadedFile("products.csv", content.encode(), content_type="text/csv")
    response = api.client.post("/api/v1/products/import", {"file": file}, headers=api.headers)
    body = assert_error(response, 422, "file")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "Body (HTML)")]


@pytest.mark.parametrize("attributes", ['{"weight": NaN}', nested_text(MAX_ATTRIBUTES_DEPTH + 1), nested_text(50_000)])
def test_the_admin_refuses_what_the_api_refuses(client: Client, staff_user: Any, attributes: str) -> None:
    client.force_login(staff_user)
    data = {"name": "Shoe", "description": "", "attributes": attributes, "language": "en"}
    response = client.post("/admin/campaigns/product/add/", data)
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert not Product.objects.exists()


# Reading what was stored before the rules -------------------------------------------------


def test_a_product_stored_with_deep_attributes_breaks_no_page(
    client: Client, staff_user: Any, make_token: Callable[..., str]
) -> None:
    product = ProductFactory(name="Deep one")
    with connection.cursor() as cursor:  # as written before the rules existed
        cursor.execute("UPDATE campaigns_product SET attributes = %s WHERE id = %s", [nested_text(900), product.id])
    client.force_login(staff_user)
    for url in [
        "/products/", "/templates/new/", "/campaigns/new/", "/admin/campaigns/product/",
        f"/admin/campaigns/product/{product.id}/change/", f"/products/{product.id}/edit/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
    api = Api(make_token(staff_user, "read"))
    for path in ["/products", f"/products/{product.id}"]:
        response = api.get(path)
        assert response.status_code == 200, path
    assert "levels deep" in api.get(f"/products/{product.id}").json()["attributes"]["_error"]
