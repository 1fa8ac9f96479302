from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from campaigns.crypto import SecretDecryptionError
from campaigns.models import Provider


@pytest.mark.django_db
def test_api_key_is_encrypted_at_rest_and_shown_as_a_hint(settings) -> None:
    provider = Provider(name="Acme", base_url="http://127.0.0.1:9/v1")
    provider.set_api_key("sk-live-abcdef123456")
    provider.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM campaigns_provider WHERE id = %s", [provider.id])
        stored = cursor.fetchone()[0]
    assert "sk-live" not in stored and stored.startswith("gAAAA")
    assert Provider.objects.get(id=provider.id).api_key == "sk-live-abcdef123456"
    assert provider.api_key_hint == "3456"


@pytest.mark.django_db
def test_a_wrong_key_fails_loudly_instead_of_returning_an_empty_secret(settings) -> None:
    provider = Provider(name="Acme", base_url="http://127.0.0.1:9/v1")
    provider.set_api_key("sk-live-abcdef123456")
    provider.save()
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretDecryptionError):
        Provider.objects.get(id=provider.id)


@pytest.mark.django_db
def test_old_keys_still_decrypt_after_a_new_primary_key(settings) -> None:
    old = settings.ENCRYPTION_KEYS[0]
    provider = Provider(name="Acme", base_url="http://127.0.0.1:9/v1")
    provider.set_api_key("sk-rotate-me-9999")
    provider.save()
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    assert Provider.objects.get(id=provider.id).api_key == "sk-rotate-me-9999"
