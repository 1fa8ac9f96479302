"""System checks: a stored secret that no configured key decrypts stops the start loudly; a provider
URL saved before the rules on base_url is named."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError, connection

from campaigns.crypto import SecretDecryptionError, decrypt


@register("database")
def check_secrets_decrypt(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every provider key must decrypt with COPYGEN_ENCRYPTION_KEYS."""
    from campaigns.models import Provider

    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT name, api_key FROM {Provider._meta.db_table} WHERE api_key <> ''")  # noqa: S608
            rows = cursor.fetchall()
    except DatabaseError:
        return []  # not migrated yet
    errors: list[CheckMessage] = []
    for name, token in rows:
        try:
            decrypt(token)
        except SecretDecryptionError:
            errors.append(
                Error(
                    f"the API key of provider '{name}' cannot be decrypted with COPYGEN_ENCRYPTION_KEYS",
                    hint="Add the key that encrypted it to COPYGEN_ENCRYPTION_KEYS (after the primary one).",
                    id="copygen.E001",
                )
            )
    return errors


@register("database")
def check_provider_urls(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A provider saved before base_url refused user-info, queries and other schemes is named (it still works)."""
    from django.core.exceptions import ValidationError

    from campaigns.models import Provider, validate_base_url

    try:
        rows = list(Provider.objects.values_list("name", "base_url"))
    except DatabaseError:
        return []  # not migrated yet
    warnings: list[CheckMessage] = []
    for name, url in rows:
        try:
            validate_base_url(url)
        except ValidationError as exc:
            warnings.append(
                CheckWarning(
                    f"provider '{name}': {exc.messages[0]}",
                    hint="Edit the provider: move any secret from the URL to its API key.",
                    id="copygen.W002",
                )
            )
    return warnings
