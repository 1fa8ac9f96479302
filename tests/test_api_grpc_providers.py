"""Triton gRPC providers and models through the API, the admin and Test connection (simulator over loopback)."""

from __future__ import annotations

import dataclasses
import io
import socket
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from campaigns.models import LLMModel, Provider
from campaigns.services.providers import provider_test_connection
from campaigns.simulator import Simulator
from tests.factories import LLMModelFactory, ProviderFactory
from tests.test_api import Api, assert_error

pytestmark = pytest.mark.django_db

PEM = "-----BEGIN CERTIFICATE-----\nMIIBexample\n-----END CERTIFICATE-----\n"


@pytest.fixture
def admin_api(staff_user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(staff_user, "admin"))


def grpc_provider(target: str, key: str = "", **fields: Any) -> Provider:
    provider = ProviderFactory(name="Triton", protocol="triton-grpc", base_url="", target=target, **fields)
    provider.set_api_key(key)
    provider.save()
    return provider


# --- API ---------------------------------------------------------------------------------------


def test_create_a_triton_provider_and_its_models(admin_api: Api) -> None:
    created = admin_api.post("/providers", {"name": "PAI-EAS", "protocol": "triton-grpc",
                                            "target": "eas.example.internal:80", "api_key": "eas-token-9876"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["protocol"], body["target"], body["tls"], body["base_url"]) == (
        "triton-grpc", "eas.example.internal:80", False, "")
    assert body["api_key_hint"] == "9876" and "eas-token" not in created.content.decode()
    model = admin_api.post("/models", {"provider_id": body["id"], "name": "llama3-8b", "preset": "vllm",
                                       "prompt_format": "llama3", "input_usd_per_mtok": "0.2",
                                       "output_usd_per_mtok": "0.8"})
    assert model.status_code == 201, model.content
    assert (model.json()["preset"], model.json()["prompt_format"]) == ("vllm", "llama3")
    assert_error(admin_api.post("/models", {"provider_id": body["id"], "name": "no-preset", "input_usd_per_mtok": "0",
                                            "output_usd_per_mtok": "0"}), 422, "preset")
    assert_error(admin_api.post("/models", {"provider_id": body["id"], "name": "x", "preset": "vllm",
                                            "input_usd_per_mtok": "0", "output_usd_per_mtok": "0"}),
                 422, "prompt_format")
    assert_error(admin_api.post("/models", {"provider_id": body["id"], "name": "y", "preset": "onnx",
                                            "prompt_format": "chatml", "input_usd_per_mtok": "0",
                                            "output_usd_per_mtok": "0"}), 422, "preset")
    tls = admin_api.post("/providers", {"name": "Triton TLS", "protocol": "triton-grpc", "target": "[::1]:8001",
                                        "tls": True, "ca_bundle": PEM})
    assert tls.status_code == 201, tls.content
    assert tls.json()["tls"] is True and tls.json()["ca_bundle"] == PEM


def test_each_protocol_takes_its_own_fields_and_errors_name_the_field(admin_api: Api) -> None:
    grpc = {"name": "T", "protocol": "triton-grpc"}
    assert_error(admin_api.post("/providers", grpc), 422, "target")
    assert_error(admin_api.post("/providers", {**grpc, "target": "no-port"}), 422, "target")
    assert_error(admin_api.post("/providers", {**grpc, "target": "host:99999"}), 422, "target")
    assert_error(admin_api.post("/providers", {**grpc, "target": "h:1", "base_url": "http://127.0.0.1:1/v1"}), 422, "base_url")
    assert_error(admin_api.post("/providers", {**grpc, "target": "h:1", "ca_bundle": PEM}), 422, "ca_bundle")
    assert_error(admin_api.post("/providers", {**grpc, "target": "h:1", "tls": True, "ca_bundle": "junk"}),
                 422, "ca_bundle")
    assert_error(admin_api.post("/providers", {**grpc, "protocol": "grpc", "target": "h:1"}), 422, "protocol")
    assert_error(admin_api.post("/providers", {"name": "O"}), 422, "base_url")
    assert_error(admin_api.post("/providers", {"name": "O", "base_url": "http://127.0.0.1:1/v1", "target": "h:1"}), 422, "target")
    assert_error(admin_api.post("/providers", {"name": "O", "base_url": "http://127.0.0.1:1/v1", "tls": True}), 422, "tls")
    openai = admin_api.post("/providers", {"name": "O", "base_url": "http://127.0.0.1:1/v1"})  # the default protocol, as before
    assert openai.status_code == 201 and openai.json()["protocol"] == "openai"
    assert_error(admin_api.post("/models", {"provider_id": openai.json()["id"], "name": "m", "preset": "vllm",
                                            "input_usd_per_mtok": "0", "output_usd_per_mtok": "0"}), 422, "preset")
    assert Provider.objects.count() == 1


def test_switching_protocol_drops_the_other_protocols_fields(admin_api: Api, catalog: dict[str, Any]) -> None:
    provider = catalog["provider"]
    assert_error(admin_api.patch(f"/providers/{provider.id}", {"protocol": "triton-grpc"}), 422, "target")
    moved = {"protocol": "triton-grpc", "target": "10.0.0.7:8001"}
    assert_error(admin_api.patch(f"/providers/{provider.id}", moved), 422, "api_key", "grpc://10.0.0.7:8001")
    switched = admin_api.patch(f"/providers/{provider.id}", {**moved, "api_key": "sk-triton-5678"})
    assert switched.status_code == 200, switched.content
    assert (switched.json()["base_url"], switched.json()["target"]) == ("", "10.0.0.7:8001")
    assert_error(admin_api.patch(f"/providers/{provider.id}", {"base_url": "http://127.0.0.1:1/v1"}), 422, "base_url")
    assert_error(admin_api.patch(f"/providers/{provider.id}", {"tls": True}), 422, "api_key", "grpcs://10.0.0.7:8001")
    back = admin_api.patch(f"/providers/{provider.id}", {"protocol": "openai", "base_url": "http://127.0.0.1:1/v1",
                                                         "api_key": ""})
    assert back.status_code == 200 and (back.json()["target"], back.json()["tls"]) == ("", False)
    model = LLMModelFactory(provider=grpc_provider("h:1"), preset="vllm", prompt_format="chatml")
    cleared = admin_api.patch(f"/models/{model.id}", {"preset": None})
    assert_error(cleared, 422, "preset")
    model.refresh_from_db()
    assert model.preset == "vllm"


def test_the_openapi_schema_shows_both_protocols(admin_api: Api) -> None:
    schema = admin_api.get("/openapi.json").json()
    provider_in = schema["components"]["schemas"]["ProviderIn"]
    assert provider_in["properties"]["protocol"]["enum"] == ["openai", "triton-grpc"]
    assert {"target", "tls", "ca_bundle"} <= set(provider_in["properties"])
    rules = provider_in["allOf"][0]
    assert rules["then"]["required"] == ["target"] and rules["else"]["required"] == ["base_url"]
    assert "base_url" not in provider_in.get("required", [])
    model_in = schema["components"]["schemas"]["LLMModelIn"]
    assert {"preset", "prompt_format"} <= set(model_in["properties"])
    assert {"protocol", "target", "tls"} <= set(schema["components"]["schemas"]["ProviderOut"]["properties"])


# --- Test connection ---------------------------------------------------------------------------


def test_test_connection_checks_server_models_and_their_tensors(simulator: Simulator) -> None:
    simulator.config = dataclasses.replace(simulator.config, api_key="sk-triton-5678")
    provider = grpc_provider(simulator.grpc_target, "sk-triton-5678")
    LLMModelFactory(provider=provider, name="llama", preset="vllm", prompt_format="llama3")
    LLMModelFactory(provider=provider, name="ensemble", preset="tensorrt_llm", prompt_format="chatml")
    ok = provider_test_connection(provider)
    assert ok.status == "ok" and set(ok.models) == {"llama", "ensemble"}, ok.detail

    LLMModelFactory(provider=provider, name="old-vllm@drop=return_num_input_tokens+num_input_tokens", preset="vllm",
                    prompt_format="chatml")
    LLMModelFactory(provider=provider, name="vllm-not-trt", preset="tensorrt_llm", prompt_format="chatml")
    missing = provider_test_connection(provider)
    assert missing.status == "error"
    assert ("model old-vllm@drop=return_num_input_tokens+num_input_tokens lacks the vllm preset's "
            "inputs return_num_input_tokens; outputs num_input_tokens") in missing.detail
    assert "model vllm-not-trt lacks the tensorrt_llm preset's inputs max_tokens, temperature" in missing.detail


def test_test_connection_names_a_refused_key_and_an_unreachable_server(simulator: Simulator) -> None:
    simulator.config = dataclasses.replace(simulator.config, api_key="sk-triton-5678")
    refused = provider_test_connection(grpc_provider(simulator.grpc_target, "sk-wrong-0000"))
    assert refused.status == "invalid_key" and "UNAUTHENTICATED" in refused.detail
    Provider.objects.all().delete()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    down = provider_test_connection(grpc_provider(f"127.0.0.1:{closed}"))
    assert down.status == "unreachable" and "UNAVAILABLE" in down.detail


def test_the_api_test_endpoint_runs_the_grpc_checks(admin_api: Api, simulator: Simulator) -> None:
    provider = grpc_provider(simulator.grpc_target)
    LLMModelFactory(provider=provider, name="llama", preset="vllm", prompt_format="llama3")
    result = admin_api.post(f"/providers/{provider.id}/test", {})
    assert result.status_code == 200 and result.json()["status"] == "ok" and result.json()["models"] == ["llama"]


# --- admin -------------------------------------------------------------------------------------


def test_the_admin_registers_a_triton_provider_with_models(staff_user: Any) -> None:
    client = Client()
    client.force_login(staff_user)
    form = {
        "name": "Triton", "protocol": "triton-grpc", "target": "triton.internal:8001", "base_url": "", "api_key": "",
        "max_concurrency": 16, "timeout": 60, "max_retries": 2,
        "models-TOTAL_FORMS": 1, "models-INITIAL_FORMS": 0, "models-MIN_NUM_FORMS": 0, "models-MAX_NUM_FORMS": 1000,
        "models-0-name": "ensemble", "models-0-input_usd_per_mtok": "0.1", "models-0-output_usd_per_mtok": "0.4",
        "models-0-is_active": "on", "models-0-preset": "tensorrt_llm", "models-0-prompt_format": "chatml",
    }
    response = client.post("/admin/campaigns/provider/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    provider = Provider.objects.get(name="Triton")
    assert (provider.protocol, provider.target) == ("triton-grpc", "triton.internal:8001")
    assert LLMModel.objects.get(provider=provider).preset == "tensorrt_llm"
    listing = client.get("/admin/campaigns/provider/").content.decode()
    assert "grpc://triton.internal:8001" in listing

    bad = client.post("/admin/campaigns/provider/add/", {**form, "name": "Other", "target": "",
                                                        "models-TOTAL_FORMS": 0})
    assert bad.status_code == 200 and "a triton-grpc provider needs a target" in bad.content.decode()


# --- studio and demo ---------------------------------------------------------------------------


def test_the_live_page_names_each_providers_protocol(user: Any, catalog: dict[str, Any], simulator: Simulator) -> None:
    from django.urls import reverse

    from campaigns.services.launch import campaign_create

    triton = grpc_provider(simulator.grpc_target)
    model = LLMModelFactory(provider=triton, name="llama", preset="vllm", prompt_format="llama3")
    campaign = campaign_create(
        owner=user, name="Both", product_ids=[catalog["products"][0].id], template_ids=[catalog["templates"][0].id],
        model_ids=[catalog["models"][0].id, model.id],
    )
    client = Client()
    client.force_login(user)
    html = client.get(reverse("campaigns:campaign_detail", args=[campaign.pk])).content.decode()
    assert f'data-protocol="triton-grpc" title="{simulator.grpc_target}">gRPC · Triton<' in html
    assert 'data-protocol="openai"' in html and ">HTTP<" in html


def test_the_demo_gets_a_grpc_provider_on_the_simulator(simulator: Simulator) -> None:
    from django.core.management import call_command

    from campaigns.models import Campaign

    call_command("seed_demo", simulator_url=simulator.base_url,  # type: ignore[attr-defined]
                 simulator_grpc_target=simulator.grpc_target, stdout=io.StringIO())
    triton = Provider.objects.get(protocol="triton-grpc")
    assert triton.target == simulator.grpc_target and triton.base_url == ""
    assert sorted(m.preset for m in triton.models.all()) == ["tensorrt_llm", "vllm"]
    demo = Campaign.objects.get(name="Demo campaign")
    assert demo.llm_models.filter(provider=triton).count() == 1
    assert provider_test_connection(triton).status == "ok"
