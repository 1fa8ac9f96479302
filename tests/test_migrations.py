"""The models and the migrations agree: a model change without its migration fails here."""

from __future__ import annotations

import io

from django.core.management import call_command


def test_no_model_change_lacks_a_migration(db: object) -> None:  # makemigrations reads the history
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # --check exits 1 when a migration is missing
        raise AssertionError(f"missing migration:\n{out.getvalue()}") from exc
