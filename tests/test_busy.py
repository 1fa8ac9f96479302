"""Errors a user cannot fix: a busy database answers 503 with Retry-After (pages and API), and
the API answers every unexpected error as JSON without a traceback, DEBUG or not."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from campaigns.api import catalog
from campaigns.models import Product
from campaigns.services.errors import BUSY_RETRY_AFTER
from tests.test_api import Api

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's write lock; PostgreSQL locks rows, not the database"
)


@contextmanager
def database_write_locked() -> Iterator[None]:
    """Another connection holds SQLite's write lock; this process's connection gives up after 50 ms."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 50")
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 20000")


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_an_api_write_on_a_busy_database_is_503_with_retry_after(user: Any, make_token: Callable[..., str]) -> None:
    api = Api(make_token(user, "read", "write"))
    with database_write_locked():
        response = api.post("/products", {"name": "Shoe"})
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(BUSY_RETRY_AFTER)
    assert response["Content-Type"].startswith("application/json")
    assert "busy" in response.json()["detail"]
    assert api.post("/products", {"name": "Shoe"}).status_code == 201  # and fine once it is free


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_page_write_on_a_busy_database_is_503_with_retry_after(client: Client, user: Any) -> None:
    client.force_login(user)
    with database_write_locked():
        response = client.post("/products/new/", {"name": "Shoe", "attributes": "{}", "language": "en"})
    assert response.status_code == 503
    assert response["Retry-After"] == str(BUSY_RETRY_AFTER)
    assert not Product.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_an_unexpected_api_error_is_json_without_a_traceback(
    user: Any, make_token: Callable[..., str], monkeypatch: pytest.MonkeyPatch, settings: Any, debug: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.DEBUG = debug

    async def broken(**kwargs: Any) -> None:
        raise RuntimeError("boom in /srv/copygen/secret.py")

    monkeypatch.setattr(catalog, "aproduct_save", broken)
    api = Api(make_token(user, "read", "write"), client=Client(raise_request_exception=False))
    response = api.post("/products", {"name": "Shoe"})
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert "Traceback" not in response.content.decode() and "secret" not in response.content.decode()
    assert response.json()["detail"] == "internal server error; it was logged"
    assert "boom" in caplog.text  # logged for the operators, with its traceback


def test_every_api_operation_documents_the_busy_503_and_its_retry_after() -> None:
    from copygen.api import api

    schema = api.get_openapi_schema()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert operations
    for op in operations:
        busy = op["responses"][503]
        assert "Retry-After" in busy["headers"], op["operationId"]
