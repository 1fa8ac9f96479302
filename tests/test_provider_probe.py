"""'Test connection' against the simulator over loopback."""

from __future__ import annotations

import socket

import pytest
from django.contrib.admin.sites import site
from django.test import Client

from campaigns.models import Provider
from campaigns.services.providers import provider_test_connection
from campaigns.simulator import SimConfig, Simulator


@pytest.fixture
def keyed_simulator():  # type: ignore[no-untyped-def]
    sim = Simulator(SimConfig(api_key="sk-right-1234", ttft_ms=1, gap_ms=1, jitter=0))
    url = sim.start_in_thread()
    yield sim, url
    sim.stop()


def make_provider(url: str, key: str) -> Provider:
    p = Provider(name="Sim", base_url=url)
    p.set_api_key(key)
    p.save()
    return p


@pytest.mark.django_db
def test_ok_invalid_key_rate_limited_and_unreachable(keyed_simulator) -> None:  # type: ignore[no-untyped-def]
    sim, url = keyed_simulator
    assert provider_test_connection(make_provider(url, "sk-right-1234")).status == "ok"
    Provider.objects.all().delete()
    bad = provider_test_connection(make_provider(url, "sk-wrong-0000"))
    assert bad.status == "invalid_key" and "Incorrect API key" in bad.detail and "Sim" in bad.detail
    Provider.objects.all().delete()
    sim.push_faults("429")
    assert provider_test_connection(make_provider(url, "sk-right-1234")).status == "rate_limited"
    Provider.objects.all().delete()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    down = provider_test_connection(make_provider(f"http://127.0.0.1:{closed_port}/v1", "sk-right-1234"))
    assert down.status == "unreachable"


@pytest.mark.django_db
def test_admin_action_reports_the_result(keyed_simulator, staff_user) -> None:  # type: ignore[no-untyped-def]
    _, url = keyed_simulator
    provider = make_provider(url, "sk-wrong-0000")
    client = Client()
    client.force_login(staff_user)
    response = client.post(
        "/admin/campaigns/provider/",
        {"action": "test_connection", "_selected_action": [provider.id], "index": 0},
        follow=True,
    )
    assert "invalid_key: sim: http 401" in response.content.decode().lower()
    assert "sk-wrong-0000" not in response.content.decode()
    assert site.is_registered(Provider)


@pytest.mark.django_db
def test_api_endpoint_tests_the_connection(keyed_simulator, staff_user, user, make_token) -> None:  # type: ignore[no-untyped-def]
    _, url = keyed_simulator
    provider = make_provider(url, "sk-right-1234")
    client = Client()
    admin_token = make_token(staff_user, "admin")
    response = client.post(f"/api/v1/providers/{provider.id}/test", HTTP_AUTHORIZATION=f"Bearer {admin_token}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and "sim-fast" in body["models"] and "sk-right" not in response.content.decode()
    marketer = make_token(user, "read", "write")
    assert client.post(f"/api/v1/providers/{provider.id}/test", HTTP_AUTHORIZATION=f"Bearer {marketer}").status_code == 403


@pytest.mark.django_db
def test_a_key_no_header_can_carry_is_reported_without_a_request(keyed_simulator) -> None:  # type: ignore[no-untyped-def]
    """A key stored before keys were validated (or written around the validation) is named,
    not a server error: nothing is sent."""
    sim, url = keyed_simulator
    provider = make_provider(url, "sk-right-1234")
    Provider.objects.filter(id=provider.id).update(api_key="sk-caf\u00e9")  # bypasses the model's validation
    provider.refresh_from_db()
    sim.push_faults("429")  # a request to /models would take it
    result = provider_test_connection(provider)
    assert result.status == "invalid_key" and "Sim" in result.detail and "printable ASCII" in result.detail
    assert list(sim.fault_queue) == ["429"]


@pytest.mark.django_db
def test_admin_form_rejects_a_key_no_header_can_carry(staff_user) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(staff_user)
    form = {"name": "Keyed", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-caf\u00e9", "max_concurrency": 4,
            "timeout": 30, "max_retries": 2}
    response = client.post("/admin/campaigns/provider/add/", form)
    assert response.status_code == 200 and "printable ASCII" in response.content.decode()
    assert not Provider.objects.filter(name="Keyed").exists()
