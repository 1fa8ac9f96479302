"""Importing products from CSV: a Shopify export, a simple sheet, row errors, dry runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Product
from campaigns.services.errors import InvalidInput
from campaigns.services.imports import html_to_text, import_parse
from tests.test_api import BASE, Api, assert_error

SHOPIFY = Path(__file__).parent / "fixtures" / "shopify_products.csv"

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(user, "read", "write"))


def upload(api: Api, content: bytes, name: str = "products.csv", **params: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    path = f"{BASE}/products/import" + (f"?{query}" if query else "")
    file = SimpleUploadedFile(name, content, content_type="text/csv")
    return api.client.post(path, {"file": file}, headers=api.headers)


def by_name(products: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in products}


# The Shopify export -----------------------------------------------------------------------


def test_shopify_export_dry_run_previews_without_saving(api: Api) -> None:
    response = upload(api, SHOPIFY.read_bytes(), dry_run="true")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dry_run"] is True and body["format"] == "shopify"
    assert body["created"] == 0 and body["errors"] == []
    assert [p["name"] for p in body["products"]] == [
        "Trail Runner 2",
        "Aurora Desk Lamp",
        "Merino Travel Hoodie",
        "京都 Tea Set",
    ]
    assert all(p["id"] is None for p in body["products"])
    assert not Product.objects.exists()


def test_shopify_export_imports_products_with_variants_collected(api: Api, user: Any) -> None:
    response = upload(api, SHOPIFY.read_bytes(), language="de")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 4 and body["dry_run"] is False
    assert Product.objects.count() == 4

    shoe = Product.objects.get(name="Trail Runner 2")
    assert shoe.description == (
        "Lightweight trail running shoe with a grippy sole & a rock plate.\nVibram® outsole\nRecycled mesh upper"
    )
    assert shoe.attributes == {
        "handle": "trail-runner-2",
        "vendor": "Northpeak",
        "type": "Shoes",
        "tags": "outdoor, running, trail",
        "options": {"Size": ["41", "42", "43"], "Color": ["Forest", "Slate"]},
    }
    assert shoe.language == "de" and shoe.owner == user
    lamp = Product.objects.get(name="Aurora Desk Lamp")
    assert "options" not in lamp.attributes  # Shopify's "Title: Default Title" placeholder
    assert lamp.description == "Dimmable LED desk lamp.\nWarm & cool light, 9 W."
    hoodie = Product.objects.get(name="Merino Travel Hoodie")
    assert hoodie.attributes["options"] == {"Size": ["S", "M", "L"]}
    assert hoodie.description == "Pack light\nOdour-resistant merino that packs small."
    tea = Product.objects.get(name="京都 Tea Set")
    assert tea.attributes == {"handle": "kyoto-tea-set", "type": "Tea"}
    ids = {p["name"]: p["id"] for p in body["products"]}
    assert ids["Trail Runner 2"] == shoe.id
    assert by_name(body["products"])["Trail Runner 2"]["row"] == 2


def test_importing_the_same_shopify_export_again_updates_instead_of_doubling(api: Api) -> None:
    first = upload(api, SHOPIFY.read_bytes()).json()
    ids = {p["name"]: p["id"] for p in first["products"]}
    newer = SHOPIFY.read_text(encoding="utf-8").replace("Aurora Desk Lamp", "Aurora Desk Lamp II")
    again = upload(api, newer.encode())
    assert again.status_code == 201, again.content
    body = again.json()
    assert (body["created"], body["updated"]) == (0, 4)
    assert Product.objects.count() == 4, "same handles: the catalog is updated, not doubled"
    lamp = Product.objects.get(attributes__handle="aurora-desk-lamp")
    assert lamp.name == "Aurora Desk Lamp II" and lamp.id == ids["Aurora Desk Lamp"]
    assert by_name(body["products"])["Aurora Desk Lamp II"]["id"] == lamp.id
    simple = b"name,description\nAurora Desk Lamp II,a sheet row has no handle\n"
    assert upload(api, simple).json()["created"] == 1 and Product.objects.count() == 5


def test_shopify_rows_with_errors_import_nothing(api: Api) -> None:
    lines = SHOPIFY.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0]
    bad = (
        header
        + "lamp,Lamp,<p>ok</p>,V,,T,,true,,,,,,,,,,,,,,,,,,,,,,,,,\n"
        + ",Orphan,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n"
        + "ghost,,,,,,,,,S,,,,,,,,,,,,,,,,,,,,,,,\n"
        + "lamp,Lamp again,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n"
        + "long,"
        + "x" * 201
        + ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n"
    )
    response = upload(api, bad.encode())
    body = assert_error(response, 422, "file", "nothing was imported")
    assert body["errors"] == [
        {"row": 3, "field": "Handle", "message": "every row needs the handle of its product"},
        {"row": 4, "field": "Title", "message": "a product needs a title (no earlier row for handle 'ghost')"},
        {"row": 5, "field": "Handle", "message": "handle 'lamp' already has a product on row 2"},
        {"row": 6, "field": "Title", "message": "longer than 200 characters"},
    ]
    assert not Product.objects.exists()

    preview = upload(api, bad.encode(), dry_run="true").json()
    assert [p["name"] for p in preview["products"]] == ["Lamp"] and len(preview["errors"]) == 4


# Simple sheets ----------------------------------------------------------------------------


def test_simple_csv_with_json_attributes_and_extra_columns(api: Api) -> None:
    content = (
        "name,description,language,attributes,color,material\n"
        'Linen shirt,Breathes.,fr,"{""fit"": ""loose"", ""sizes"": [""S"", ""M""]}",sand,linen\n'
        "Wool socks,,,,grey,\n"
    )
    response = upload(api, ("\ufeff" + content).encode(), language="it")
    assert response.status_code == 201, response.content
    assert response.json()["format"] == "simple"
    shirt = Product.objects.get(name="Linen shirt")
    assert shirt.language == "fr" and shirt.description == "Breathes."
    assert shirt.attributes == {"fit": "loose", "sizes": ["S", "M"], "color": "sand", "material": "linen"}
    socks = Product.objects.get(name="Wool socks")
    assert socks.language == "it" and socks.attributes == {"color": "grey"}


def test_simple_csv_row_errors_name_row_and_field(api: Api) -> None:
    content = 'Name,attributes\nGood,\n,{}\nBad JSON,{nope\nList,[1]\nNaN,{"x": NaN}\n'
    body = assert_error(upload(api, content.encode()), 422, "file")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [
        (3, "name"),
        (4, "attributes"),
        (5, "attributes"),
        (6, "attributes"),
    ]
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe\x00n\x00a", "UTF-8"),
        (b"sku,price\nA,1\n", "unrecognised header"),
        (b"", "empty"),
        (b"name,description\n", "no product rows"),
        (b'name\n"unterminated\x00\n', "NUL"),
    ],
)
def test_unreadable_files_are_422_naming_the_file(api: Api, content: bytes, words: str) -> None:
    assert_error(upload(api, content), 422, "file", words)


def test_missing_file_and_scopes(api: Api, user: Any, make_token: Callable[..., str]) -> None:
    response = api.client.post(f"{BASE}/products/import", {}, headers=api.headers)
    assert_error(response, 422, "file")
    reader = Api(make_token(user, "read"))
    assert_error(upload(reader, SHOPIFY.read_bytes()), 403, None, "write")
    assert not Product.objects.exists()


# The pure parser ----------------------------------------------------------------------------


def test_import_parse_is_pure_and_reusable() -> None:
    parsed = import_parse(SHOPIFY.read_bytes(), language="en")
    assert parsed.format == "shopify" and parsed.errors == []
    assert [r.row for r in parsed.rows] == [2, 8, 9, 12]
    with pytest.raises(InvalidInput) as exc:
        import_parse(b"foo\n1\n")
    assert exc.value.field == "file"


def test_html_to_text() -> None:
    html = (
        "<h1>Title</h1><p>One&nbsp;two &lt;three&gt;</p><script>alert(1)</script><ul><li>a</li><li>b</li></ul>x<br/>y"
    )
    assert html_to_text(html) == "Title\nOne two <three>\na\nb\nx\ny"
