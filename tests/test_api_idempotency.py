"""``Idempotency-Key``: retries are replayed, never repeated, even when they arrive at once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import AsyncClient, Client
from django.utils import timezone

from campaigns.api import idempotency
from campaigns.models import Campaign, Generation, IdempotencyKey, Product
from tests.test_api import BASE, Api, assert_error, campaign_body


@pytest.fixture
def api(user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(user, "read", "write", "launch"))


def with_key(api: Api, key: str) -> Api:
    keyed = Api(client=api.client)
    keyed.headers = {**api.headers, "Idempotency-Key": key}
    return keyed


# One at a time ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_retry_is_replayed_not_repeated(api: Api) -> None:
    keyed = with_key(api, "a2f1c0de-0001")
    first = keyed.post("/products", {"name": "Mug", "attributes": {"a": 1, "b": 2}})
    again = keyed.post("/products", {"attributes": {"b": 2, "a": 1}, "name": "Mug"})  # same JSON, other order
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == first["Content-Type"]
    assert "Idempotent-Replayed" not in first
    assert Product.objects.count() == 1


@pytest.mark.django_db
def test_same_key_different_request_is_422(api: Api) -> None:
    keyed = with_key(api, "key-1")
    assert keyed.post("/products", {"name": "Mug"}).status_code == 201
    assert_error(keyed.post("/products", {"name": "Cup"}), 422, "Idempotency-Key", "different request")
    assert_error(keyed.post("/templates", {"name": "T", "body": "x"}), 422, "Idempotency-Key")
    assert Product.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_scoped_per_user(api: Api, other_user: Any, make_token: Callable[..., str]) -> None:
    bob = with_key(Api(make_token(other_user, "read", "write")), "shared")
    assert with_key(api, "shared").post("/products", {"name": "Mug"}).status_code == 201
    assert bob.post("/products", {"name": "Mug"}).status_code == 201
    assert bob.post("/products", {"name": "Mug"})["Idempotent-Replayed"] == "true"
    assert Product.objects.count() == 2


@pytest.mark.django_db
def test_errors_are_not_stored_so_a_fixed_retry_runs(api: Api, catalog: dict[str, Any]) -> None:
    keyed = with_key(api, "create-campaign")
    assert_error(keyed.post("/campaigns", campaign_body(catalog, product_ids=[999999])), 422, "product_ids")
    assert_error(keyed.post("/campaigns", campaign_body(catalog, variants=0)), 422, "variants")
    assert keyed.post("/campaigns", campaign_body(catalog)).status_code == 201
    assert Campaign.objects.count() == 1 and IdempotencyKey.objects.count() == 1


@pytest.mark.django_db
def test_launch_is_replayed_not_409(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    keyed = with_key(api, "launch-1")
    first = keyed.post(f"/campaigns/{campaign_id}/launch")
    again = keyed.post(f"/campaigns/{campaign_id}/launch")
    assert first.status_code == again.status_code == 202 and again.content == first.content
    assert_error(api.post(f"/campaigns/{campaign_id}/launch"), 409)  # without a key: a new request
    assert Generation.objects.filter(campaign_id=campaign_id).count() == 24


@pytest.mark.django_db
def test_file_uploads_are_fingerprinted_by_content(api: Api) -> None:
    def upload(content: bytes) -> Any:
        file = SimpleUploadedFile("p.csv", content, content_type="text/csv")
        headers = {**api.headers, "Idempotency-Key": "import-1"}
        return api.client.post(f"{BASE}/products/import", {"file": file}, headers=headers)

    first = upload(b"name\nMug\nCup\n")
    assert first.status_code == 201, first.content
    assert upload(b"name\nMug\nCup\n")["Idempotent-Replayed"] == "true"
    assert_error(upload(b"name\nBowl\n"), 422, "Idempotency-Key")
    assert Product.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "naïve"])
def test_bad_keys_are_422(api: Api, key: str) -> None:
    response = api.client.post(
        f"{BASE}/products",
        data='{"name": "Mug"}',
        content_type="application/json",
        headers={**api.headers, "Idempotency-Key": key},
    )
    assert_error(response, 422, "Idempotency-Key")
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_expired_keys_start_afresh(api: Api) -> None:
    keyed = with_key(api, "old")
    keyed.post("/products", {"name": "Mug"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert "Idempotent-Replayed" not in keyed.post("/products", {"name": "Cup"})
    assert Product.objects.count() == 2
    with_key(api, "older").post("/products", {"name": "Bowl"})
    IdempotencyKey.objects.filter(key="older").update(created_at=timezone.now() - timedelta(hours=25))
    with_key(api, "newest").post("/products", {"name": "Plate"})
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) == {"old", "newest"}  # expired ones purged


@pytest.mark.django_db
def test_a_key_still_in_progress_is_409_after_waiting(api: Api, user: Any, monkeypatch: Any) -> None:
    from campaigns.services.idempotency import request_fingerprint  # noqa: F401 - the same hash is used

    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.3)
    keyed = with_key(api, "slow")
    keyed.post("/products", {"name": "Mug"})
    IdempotencyKey.objects.filter(key="slow").update(status_code=None, response_body=None)
    assert_error(keyed.post("/products", {"name": "Mug"}), 409, None, "in progress")
    assert Product.objects.count() == 1


@pytest.mark.django_db
def test_gets_and_patches_ignore_the_header(api: Api) -> None:
    keyed = with_key(api, "reads")
    product_id = keyed.post("/products", {"name": "Mug"}).json()["id"]
    assert keyed.patch(f"/products/{product_id}", {"name": "Cup"}).status_code == 200
    assert keyed.patch(f"/products/{product_id}", {"name": "Bowl"}).json()["name"] == "Bowl"
    assert keyed.get("/products").json()["count"] == 1


# Many at once ---------------------------------------------------------------------------


def post_concurrently(n: int, path: str, body: Any, headers: dict[str, str]) -> list[Any]:
    """``n`` threads, each with its own client and database connection, post at the same moment."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        try:
            client = Client()
            barrier.wait()
            results[i] = Api(client=client).client.post(
                f"{BASE}{path}", data=body, content_type="application/json", headers=headers
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_ten_creates_at_once_make_one_campaign(api: Api, catalog: dict[str, Any]) -> None:
    import json

    headers = {**api.headers, "Idempotency-Key": "ten-at-once"}
    results = post_concurrently(10, "/campaigns", json.dumps(campaign_body(catalog)), headers)
    assert [r.status_code for r in results] == [201] * 10, [r.content for r in results]
    assert len({r.content for r in results}) == 1
    assert Campaign.objects.count() == 1
    assert sum(1 for r in results if r.get("Idempotent-Replayed") == "true") == 9


@pytest.mark.django_db(transaction=True)
def test_ten_launches_at_once_launch_once(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    headers = {**api.headers, "Idempotency-Key": "launch-at-once"}
    results = post_concurrently(10, f"/campaigns/{campaign_id}/launch", "{}", headers)
    assert [r.status_code for r in results] == [202] * 10
    assert len({r.content for r in results}) == 1
    assert Generation.objects.filter(campaign_id=campaign_id).count() == 24


@pytest.mark.django_db(transaction=True)
async def test_ten_at_once_on_one_event_loop(
    user: Any, make_token: Callable[..., str], catalog: dict[str, Any]
) -> None:
    token = await sync_to_async(make_token)(user, "write")
    body = await sync_to_async(campaign_body)(catalog)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "async-ten"}
    client = AsyncClient()
    responses = await asyncio.gather(
        *(client.post(f"{BASE}/campaigns", body, content_type="application/json", headers=headers) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [201] * 10, responses[0].content
    assert len({r.content for r in responses}) == 1
    assert await Campaign.objects.acount() == 1
    await sync_to_async(connections.close_all)()  # the async thread's connection: let the test database go
