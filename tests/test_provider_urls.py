"""Provider base URLs: http(s) only, no secrets in them, redacted for readers; a new host needs the key again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from campaigns.models import Provider
from tests.factories import ProviderFactory
from tests.test_api import Api, assert_error

pytestmark = pytest.mark.django_db

BAD_URLS = {
    "ftp://files.example.com/v1": "http:// or https://",
    "file:///etc/passwd": "URL",
    "https://user:s3cret@api.example.com/v1": "user name or password",
    "https://sk-leaked@api.example.com/v1": "user name or password",
    "https://api.example.com/v1?api-key=s3cret": "query string",
    "https://api.example.com/v1#s3cret": "fragment",
}


@pytest.fixture
def admin_api(staff_user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(staff_user, "admin"))


def _keyed(base_url: str = "https://api.one.example/v1", key: str = "sk-one-secret-1111", **kw: Any) -> Provider:
    provider = ProviderFactory(base_url=base_url, **kw)
    provider.set_api_key(key)
    provider.save()
    return provider


def _admin_form(staff_user: Any, provider: Provider, **changes: Any) -> Any:
    client = Client()
    client.force_login(staff_user)
    data = {
        "name": provider.name, "base_url": provider.base_url, "api_key": "", "max_concurrency": 16,
        "rpm_limit": "", "tpm_limit": "", "timeout": 60, "max_retries": 2,
        "models-TOTAL_FORMS": 0, "models-INITIAL_FORMS": 0, "models-MIN_NUM_FORMS": 0, "models-MAX_NUM_FORMS": 1000,
        **changes,
    }
    return client.post(reverse("admin:campaigns_provider_change", args=[provider.pk]), data)


# What a base URL may be ----------------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), list(BAD_URLS.items()))
def test_a_base_url_is_http_or_https_without_secrets_on_every_path(
    admin_api: Api, staff_user: Any, url: str, reason: str
) -> None:
    body = {"name": "Leaky", "base_url": url, "api_key": "sk-fine-1234"}
    assert_error(admin_api.post("/providers", body), 422, "base_url", reason)
    provider = _keyed()
    assert_error(admin_api.patch(f"/providers/{provider.id}", {"base_url": url, "api_key": "sk-x"}), 422, "base_url")
    response = _admin_form(staff_user, provider, base_url=url, api_key="sk-x")
    assert response.status_code == 200 and "base_url" in response.context["adminform"].form.errors
    with pytest.raises(ValidationError) as err:
        Provider(name="Model", base_url=url).full_clean()
    assert list(err.value.message_dict) == ["base_url"]
    assert not Provider.objects.filter(base_url=url).exists()
    assert Provider.objects.get(pk=provider.pk).base_url == "https://api.one.example/v1"


def test_plain_http_and_https_urls_with_ports_and_paths_are_fine(admin_api: Api) -> None:
    for i, url in enumerate(["http://127.0.0.1:8000/v1", "https://api.openai.com/v1", "http://[::1]:11434/v1"]):
        assert admin_api.post("/providers", {"name": f"Fine {i}", "base_url": url}).status_code == 201, url


# What readers see ------------------------------------------------------------------------------


def test_readers_without_the_admin_scope_see_no_url_credentials(
    admin_api: Api, user: Any, staff_user: Any, make_token: Callable[..., str]
) -> None:
    # A row saved before the rules (straight into the database, as a migration leaves it).
    legacy = Provider.objects.create(name="Legacy", base_url="https://ops:hunter2@relay.example/v1?key=s3cret#x")
    session = Client()
    session.force_login(user)
    readers = {
        "read token": Api(make_token(user, "read")),
        "admin token of a non-staff user": Api(make_token(user, "admin")),
        "read token of a staff user": Api(make_token(staff_user, "read")),
        "session of a non-staff user": Api(client=session),
    }
    for who, reader in readers.items():
        detail = reader.get(f"/providers/{legacy.id}").json()
        assert detail["base_url"] == "https://relay.example/v1", who
        listed = reader.get("/providers").json()["items"]
        assert [p["base_url"] for p in listed if p["id"] == legacy.id] == ["https://relay.example/v1"], who
        assert "hunter2" not in reader.get("/providers").content.decode(), who
        # Searching what one cannot see would reveal it character by character.
        assert reader.get("/providers", search="hunter2").json()["count"] == 0, who
    assert admin_api.get(f"/providers/{legacy.id}").json()["base_url"] == legacy.base_url
    assert admin_api.get("/providers", search="hunter2").json()["count"] == 1


def test_a_system_check_names_providers_saved_before_the_rules() -> None:
    from campaigns.checks import check_provider_urls

    Provider.objects.create(name="Legacy", base_url="ftp://relay.example/v1")
    ProviderFactory(name="Fine", base_url="https://api.example.com/v1")
    warnings = check_provider_urls()
    assert [(w.id, "Legacy" in w.msg) for w in warnings] == [("copygen.W002", True)]


# A new host needs the key again ----------------------------------------------------------------


def test_moving_a_provider_to_another_host_needs_its_key_again(admin_api: Api) -> None:
    provider = _keyed()
    for url in ["https://evil.example/v1", "http://api.one.example/v1", "https://api.one.example:8443/v1"]:
        response = admin_api.patch(f"/providers/{provider.id}", {"base_url": url})
        assert_error(response, 422, "api_key", "send the API key for the new host")
        stored = Provider.objects.get(pk=provider.pk)
        assert (stored.base_url, stored.api_key) == ("https://api.one.example/v1", "sk-one-secret-1111")
    # The same host (another path, the default port spelled out, another case): the key stays.
    for url in ["https://api.one.example/v2", "https://API.one.example:443/v1"]:
        assert admin_api.patch(f"/providers/{provider.id}", {"base_url": url}).status_code == 200
        assert Provider.objects.get(pk=provider.pk).api_key == "sk-one-secret-1111"
    # Another host with its own key, or with none at all.
    moved = admin_api.patch(f"/providers/{provider.id}", {"base_url": "https://two.example/v1", "api_key": "sk-2-2222"})
    assert moved.status_code == 200 and moved.json()["api_key_hint"] == "2222"
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-2-2222"
    cleared = admin_api.patch(f"/providers/{provider.id}", {"base_url": "http://127.0.0.1:9/v1", "api_key": ""})
    assert cleared.status_code == 200 and Provider.objects.get(pk=provider.pk).api_key == ""
    # Without a stored key there is nothing to leak: moving is fine.
    assert admin_api.patch(f"/providers/{provider.id}", {"base_url": "https://three.example/v1"}).status_code == 200


def test_the_admin_refuses_a_new_host_without_a_key_or_an_explicit_removal(staff_user: Any) -> None:
    provider = _keyed()
    refused = _admin_form(staff_user, provider, base_url="https://evil.example/v1")
    assert refused.status_code == 200
    assert "send the API key for the new host" in str(refused.context["adminform"].form.errors["api_key"])
    assert Provider.objects.get(pk=provider.pk).base_url == "https://api.one.example/v1"
    assert _admin_form(staff_user, provider, base_url="https://api.one.example/v2").status_code == 302
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-one-secret-1111"  # same host: kept
    provider.refresh_from_db()
    assert _admin_form(staff_user, provider, base_url="https://two.example/v1", api_key="sk-two-2222").status_code == 302
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-two-2222"
    provider.refresh_from_db()
    assert _admin_form(staff_user, provider, base_url="http://127.0.0.1:9/v1", clear_api_key="on").status_code == 302
    stored = Provider.objects.get(pk=provider.pk)
    assert (stored.base_url, stored.api_key, stored.api_key_hint) == ("http://127.0.0.1:9/v1", "", "")


def test_seeding_the_demo_on_another_simulator_never_carries_the_old_key(staff_user: Any) -> None:
    _keyed(name="Simulator", key="sk-real-provider-key-9999")
    call_command("seed_demo", simulator_url="http://127.0.0.1:9/v1", verbosity=0)
    stored = Provider.objects.get(name="Simulator")
    assert stored.base_url == "http://127.0.0.1:9/v1" and stored.api_key == "sk-sim-demo-0000"
