"""The built-in price catalog (genai-prices, offline), models' prices and request options."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from campaigns.models import LLMModel, Provider
from campaigns.services.price_catalog import catalog_lookup, catalog_source, catalog_version
from tests.factories import LLMModelFactory, ProviderFactory
from tests.test_api import Api, assert_error, campaign_body

pytestmark = pytest.mark.django_db

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Sockets may reach loopback only: the catalog must never fetch anything."""
    attempts: list[Any] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            attempts.append(address)
            raise OSError(f"no network in tests: {address}")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield
    from genai_prices import data_snapshot

    assert not attempts
    assert data_snapshot._custom_snapshot is None  # the package's updater never ran


@pytest.fixture
def admin_api(staff_user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(staff_user, "admin"))


def test_the_catalog_knows_models_by_provider_kind() -> None:
    mini = catalog_lookup(kind="openai", name="gpt-4o-mini")
    assert mini is not None
    assert mini.prices == {
        "input_usd_per_mtok": Decimal("0.15"),
        "cached_input_usd_per_mtok": Decimal("0.075"),
        "cache_write_usd_per_mtok": None,
        "output_usd_per_mtok": Decimal("0.6"),
    }
    assert mini.request == {}
    deepseek = catalog_lookup(kind="deepseek", name="deepseek-chat")
    assert deepseek is not None and deepseek.prices["cached_input_usd_per_mtok"] is not None
    reasoner = catalog_lookup(kind="openai", name="o4-mini")
    assert reasoner is not None
    assert reasoner.request == {"token_limit_param": "max_completion_tokens", "send_temperature": False}
    assert catalog_lookup(kind="openai", name="no-such-model-anywhere") is None
    for kind in ("vllm", "ollama", "llamacpp", "other"):  # self-hosted: priced by hand
        assert catalog_lookup(kind=kind, name="gpt-4o-mini") is None
    assert catalog_source() == f"catalog {catalog_version()}" == "catalog 0.2.3"


def test_sync_prices_is_a_dry_run_unless_applied() -> None:
    provider = ProviderFactory(kind="openai")
    known = LLMModelFactory(provider=provider, name="gpt-4o-mini", input_usd_per_mtok=Decimal("9"))
    unknown = LLMModelFactory(provider=provider, name="house-model", input_usd_per_mtok=Decimal("1"))
    out = StringIO()
    call_command("sync_prices", stdout=out)
    table = out.getvalue()
    assert "gpt-4o-mini" in table and "9" in table and "0.15" in table and "house-model" not in table
    assert "1 model(s) would be repriced" in table and "Dry run" in table
    known.refresh_from_db()
    assert known.input_usd_per_mtok == Decimal("9") and known.price_source == "manual"

    out = StringIO()
    call_command("sync_prices", "--apply", stdout=out)
    assert "1 model(s) repriced from catalog 0.2.3" in out.getvalue()
    known.refresh_from_db()
    unknown.refresh_from_db()
    assert (known.input_usd_per_mtok, known.cached_input_usd_per_mtok, known.output_usd_per_mtok) == (
        Decimal("0.15"),
        Decimal("0.075"),
        Decimal("0.6"),
    )
    assert known.price_source == "catalog 0.2.3" and known.price_updated_at is not None
    assert unknown.input_usd_per_mtok == Decimal("1") and unknown.price_source == "manual"

    out = StringIO()
    call_command("sync_prices", stdout=out)
    assert "0 model(s) would be repriced" in out.getvalue() and "1 already match" in out.getvalue()


def test_providers_have_a_kind(admin_api: Api) -> None:
    created = admin_api.post(
        "/providers", {"name": "OpenAI", "base_url": "https://api.openai.com/v1", "kind": "openai"}
    )
    assert created.status_code == 201, created.content
    assert created.json()["kind"] == "openai"
    other = admin_api.post("/providers", {"name": "Box", "base_url": "http://127.0.0.1:9/v1"})
    assert other.json()["kind"] == "other"
    assert_error(admin_api.post("/providers", {"name": "X", "base_url": "http://x/v1", "kind": "azure"}), 422, "kind")
    patched = admin_api.patch(f"/providers/{other.json()['id']}", {"kind": "vllm"})
    assert patched.json()["kind"] == "vllm"


def test_a_model_the_catalog_knows_gets_its_prices_and_defaults(admin_api: Api) -> None:
    provider = ProviderFactory(kind="openai")
    mini = admin_api.post("/models", {"provider_id": provider.id, "name": "gpt-4o-mini"})
    assert mini.status_code == 201, mini.content
    body = mini.json()
    assert (body["input_usd_per_mtok"], body["cached_input_usd_per_mtok"], body["output_usd_per_mtok"]) == (
        "0.15",
        "0.075",
        "0.6",
    )
    assert body["cache_write_usd_per_mtok"] is None
    assert body["price_source"] == "catalog 0.2.3" and body["price_updated_at"]
    assert (body["token_limit_param"], body["send_temperature"], body["include_usage"]) == ("max_tokens", True, True)

    o4 = admin_api.post(
        "/models", {"provider_id": provider.id, "name": "o4-mini", "extra_body": {"reasoning_effort": "low"}}
    )
    assert o4.status_code == 201, o4.content
    assert o4.json()["token_limit_param"] == "max_completion_tokens" and o4.json()["send_temperature"] is False
    assert o4.json()["extra_body"] == {"reasoning_effort": "low"}
    # What the caller sends wins over the catalog's defaults.
    chosen = admin_api.post(
        "/models", {"provider_id": provider.id, "name": "o3-mini", "send_temperature": True, "output_usd_per_mtok": "5"}
    )
    assert chosen.json()["send_temperature"] is True and chosen.json()["output_usd_per_mtok"] == "5"
    assert chosen.json()["price_source"] == "manual"


def test_an_unknown_model_without_prices_is_refused_naming_the_field(admin_api: Api) -> None:
    openai = ProviderFactory(kind="openai")
    assert_error(
        admin_api.post("/models", {"provider_id": openai.id, "name": "house-model"}),
        422,
        "input_usd_per_mtok",
        "catalog",
    )
    assert_error(
        admin_api.post("/models", {"provider_id": openai.id, "name": "house-model", "input_usd_per_mtok": "1"}),
        422,
        "output_usd_per_mtok",
    )
    local = ProviderFactory(kind="vllm")
    assert_error(admin_api.post("/models", {"provider_id": local.id, "name": "gpt-4o-mini"}), 422, "input_usd_per_mtok")
    manual = admin_api.post(
        "/models",
        {
            "provider_id": local.id,
            "name": "qwen",
            "input_usd_per_mtok": "0.1",
            "output_usd_per_mtok": "0.2",
            "cached_input_usd_per_mtok": "0.01",
        },
    )
    assert manual.status_code == 201 and manual.json()["price_source"] == "manual"
    assert not LLMModel.objects.filter(name="house-model").exists()


@pytest.mark.parametrize(
    ("extra_body", "words"),
    [
        ({"model": "other"}, "model"),
        ({"messages": []}, "messages"),
        ({"stream": False}, "stream"),
        ({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "levels"),
        ({"blob": "x" * 5000}, "bytes"),
        ({f"k{i}": i for i in range(33)}, "32"),
        ([1, 2], "dictionary"),
        ("text", "dictionary"),
    ],
)
def test_extra_body_is_a_bounded_object_that_cannot_override_the_request(
    admin_api: Api, extra_body: Any, words: str
) -> None:
    model = LLMModelFactory()
    assert_error(admin_api.patch(f"/models/{model.id}", {"extra_body": extra_body}), 422, "extra_body", words)
    body = {
        "provider_id": model.provider_id,
        "name": "m2",
        "input_usd_per_mtok": "1",
        "output_usd_per_mtok": "1",
        "extra_body": extra_body,
    }
    assert_error(admin_api.post("/models", body), 422, "extra_body", words)


def test_changing_a_price_makes_it_manual_and_sync_price_restores_the_catalogs(
    admin_api: Api, api_user_token: str
) -> None:
    model = LLMModelFactory(provider=ProviderFactory(kind="openai"), name="gpt-4o-mini")
    patched = admin_api.patch(
        f"/models/{model.id}", {"input_usd_per_mtok": "0.2", "token_limit_param": "max_completion_tokens"}
    )
    assert patched.json()["price_source"] == "manual" and patched.json()["token_limit_param"] == "max_completion_tokens"
    assert_error(Api(api_user_token).post(f"/models/{model.id}/sync-price"), 403, None, "admin")
    synced = admin_api.post(f"/models/{model.id}/sync-price")
    assert synced.status_code == 200, synced.content
    assert synced.json()["input_usd_per_mtok"] == "0.15" and synced.json()["price_source"] == "catalog 0.2.3"
    unknown = LLMModelFactory(provider=ProviderFactory(kind="other"), name="house")
    assert_error(admin_api.post(f"/models/{unknown.id}/sync-price"), 422, "name", "catalog")
    assert_error(admin_api.post("/models/999999/sync-price"), 404)


@pytest.fixture
def api_user_token(user: Any, make_token: Callable[..., str]) -> str:
    return make_token(user, "read", "write", "launch")


def test_the_admin_fills_prices_from_the_catalog_and_syncs_them(staff_user: Any) -> None:
    client = Client()
    client.force_login(staff_user)
    provider = ProviderFactory(kind="openai")
    form = {
        "provider": provider.id,
        "name": "gpt-4o-mini",
        "label": "",
        "input_usd_per_mtok": "",
        "output_usd_per_mtok": "",
        "is_active": "on",
        "token_limit_param": "max_tokens",
        "send_temperature": "on",
        "include_usage": "on",
        "extra_body": "{}",
    }
    response = client.post("/admin/campaigns/llmmodel/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    model = LLMModel.objects.get(name="gpt-4o-mini")
    assert model.input_usd_per_mtok == Decimal("0.15") and model.price_source == "catalog 0.2.3"

    refused = client.post("/admin/campaigns/llmmodel/add/", {**form, "name": "house-model"})
    assert refused.status_code == 200 and b"price catalog has no price" in refused.content
    bad_body = client.post("/admin/campaigns/llmmodel/add/", {**form, "name": "gpt-4o", "extra_body": '{"stream": 1}'})
    assert bad_body.status_code == 200 and b"extra_body may not set stream" in bad_body.content

    LLMModel.objects.filter(id=model.id).update(input_usd_per_mtok=Decimal("7"), price_source="manual")
    client.post("/admin/campaigns/llmmodel/", {"action": "sync_prices", "_selected_action": [model.id]})
    model.refresh_from_db()
    assert model.input_usd_per_mtok == Decimal("0.15") and model.price_source == "catalog 0.2.3"


def test_the_estimate_compares_the_campaign_on_every_active_model_cheapest_first(
    catalog: dict[str, Any], api_user_token: str
) -> None:
    LLMModelFactory(
        provider=ProviderFactory(kind="openai"),
        name="gpt-4o-mini",
        input_usd_per_mtok=Decimal("0.15"),
        output_usd_per_mtok=Decimal("0.6"),
        price_source="catalog 0.2.3",
    )
    LLMModelFactory(name="pricey", input_usd_per_mtok=Decimal("30"), output_usd_per_mtok=Decimal("60"))
    LLMModelFactory(name="retired", is_active=False)
    body = {k: v for k, v in campaign_body(catalog).items() if k not in {"name", "budget_usd"}}
    plain = Api(api_user_token).post("/estimate", body).json()
    assert plain["comparison"] is None
    compared = Api(api_user_token).post("/estimate", {**body, "compare_models": True}).json()
    rows = compared["comparison"]
    assert {r["model"] for r in rows} == set(LLMModel.objects.filter(is_active=True).values_list("name", flat=True))
    expected = [Decimal(r["expected_usd"]) for r in rows]
    assert expected == sorted(expected) and rows[-1]["model"] == "pricey"
    # Each row is the whole campaign on that one model: the chosen models' rows match theirs, times two.
    chosen = {r["model_id"]: r for r in compared["models"]}
    for row in rows:
        if row["model_id"] in chosen:
            assert row["cells"] == chosen[row["model_id"]]["cells"]
            assert row["expected_usd"] == chosen[row["model_id"]]["expected_usd"]
    assert next(r for r in rows if r["model"] == "gpt-4o-mini")["price_source"] == "catalog 0.2.3"


def test_provider_kind_choices_match_the_api() -> None:
    from campaigns.schemas.registry import ProviderKind

    assert set(ProviderKind.__args__) == set(Provider.Kind.values)  # type: ignore[attr-defined]
