"""Encryption at rest for provider secrets (MultiFernet over ``COPYGEN_ENCRYPTION_KEYS``).

The first key encrypts; every key decrypts, so keys rotate by putting a new key first
and running ``manage.py rotate_encryption_keys``. A value that no key decrypts raises
:class:`SecretDecryptionError`: a wrong key never reads as an empty secret.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

__all__ = ["EncryptedTextField", "SecretDecryptionError", "decrypt", "encrypt", "fernet", "rotate"]


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "COPYGEN_ENCRYPTION_KEYS holds an invalid Fernet key "
            "(32 url-safe base64-encoded bytes; make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "a stored secret cannot be decrypted with COPYGEN_ENCRYPTION_KEYS "
            "(was the key that encrypted it removed?)"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the primary key."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError("a stored secret cannot be decrypted for rotation") from exc


SERIALIZED_PREFIX = "fernet:"


class EncryptedTextField(models.TextField):
    """A text field whose value is Fernet-encrypted in the database.

    Serialized (``dumpdata``, fixtures) it stays encrypted, as ``fernet:<token>``;
    ``loaddata`` decrypts it back (with any configured key) and re-encrypts on save.
    """

    def value_to_string(self, obj: Any) -> str:
        value = self.value_from_object(obj)
        return f"{SERIALIZED_PREFIX}{encrypt(value)}" if value else ""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(SERIALIZED_PREFIX):
            return decrypt(value[len(SERIALIZED_PREFIX) :])
        return super().to_python(value)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
