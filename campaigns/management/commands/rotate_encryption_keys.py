from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from campaigns.crypto import SecretDecryptionError, rotate
from campaigns.models import Provider


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first key of COPYGEN_ENCRYPTION_KEYS. "
        "Put the new key first, keep the old ones after it, run this, then drop the old keys."
    )

    @transaction.atomic
    def handle(self, *args: Any, **opts: Any) -> None:
        table = Provider._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, api_key FROM {table} WHERE api_key <> ''")  # noqa: S608 - our table name
            rows = cursor.fetchall()
        rotated = 0
        for provider_id, token in rows:
            try:
                new = rotate(token)
            except SecretDecryptionError as exc:
                raise CommandError(f"provider {provider_id}: {exc}; nothing was changed") from exc
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {table} SET api_key = %s WHERE id = %s", [new, provider_id])  # noqa: S608
            rotated += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {rotated} provider key(s) under the primary key."))
