"""Secrets stay secret: encryption at rest, key rotation, loud failures, deploy checks, dumps."""

from __future__ import annotations

import io
import os
import pathlib
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.core.management import call_command

from campaigns.models import Provider
from campaigns.services.tokens import token_create

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture
def provider(db) -> Provider:  # type: ignore[no-untyped-def]
    p = Provider(name="Acme", base_url="http://127.0.0.1:9/v1")
    p.set_api_key("sk-live-SECRET-abcdef-7890")
    p.save()
    return p


def test_rotation_re_encrypts_under_the_new_primary_key(settings, provider) -> None:  # type: ignore[no-untyped-def]
    old = settings.ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "Re-encrypted 1" in out.getvalue()
    settings.ENCRYPTION_KEYS = [new]  # the old key is gone: the secret still reads
    assert Provider.objects.get(id=provider.id).api_key == "sk-live-SECRET-abcdef-7890"


def test_a_key_that_cannot_decrypt_fails_the_start_check(settings, provider) -> None:  # type: ignore[no-untyped-def]
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    errors = run_checks(tags=["database"], databases=["default"])
    assert [e.id for e in errors] == ["copygen.E001"] and "Acme" in errors[0].msg


def test_an_invalid_key_in_the_environment_refuses_to_start() -> None:
    env = {**os.environ, "COPYGEN_ENCRYPTION_KEYS": "not-a-fernet-key"}
    proc = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "COPYGEN_ENCRYPTION_KEYS: key #1 is not a Fernet key" in proc.stderr


def test_production_settings_refuse_to_start_without_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "COPYGEN_ENCRYPTION_KEYS"}}
    env["DJANGO_DEBUG"] = "false"
    proc = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "DJANGO_SECRET_KEY must be set" in proc.stderr


def test_check_deploy_reports_nothing_with_production_settings() -> None:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": Fernet.generate_key().decode() + Fernet.generate_key().decode(),
        "COPYGEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "copy.example.com",
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


def test_a_database_dump_holds_no_key_and_no_token_in_clear(provider, user) -> None:  # type: ignore[no-untyped-def]
    _, raw = token_create(user=user, scopes=["read"])
    out = io.StringIO()
    call_command("dumpdata", "campaigns", stdout=out)
    dump = out.getvalue()
    assert '"model": "campaigns.provider"' in dump and '"model": "campaigns.apitoken"' in dump
    assert "sk-live-SECRET" not in dump and "abcdef-7890" not in dump
    assert raw not in dump and raw.split("_", 2)[2] not in dump
    assert "7890" in dump  # only the hint


def test_a_dump_loads_back_with_the_key_intact(provider, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "dump.json"
    call_command("dumpdata", "campaigns.provider", output=str(path))
    Provider.objects.all().delete()
    call_command("loaddata", str(path), verbosity=0)
    assert Provider.objects.get(name="Acme").api_key == "sk-live-SECRET-abcdef-7890"


def test_the_database_column_holds_ciphertext_only(provider) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM campaigns_provider")
        (stored,) = cursor.fetchone()
    assert "SECRET" not in stored and stored.startswith("gAAAA")


def test_the_server_refuses_to_start_when_a_stored_key_cannot_be_decrypted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = {k: v for k, v in os.environ.items() if k not in {"COPYGEN_SKIP_START_CHECKS", "REDIS_URL"}}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", COPYGEN_ENCRYPTION_KEYS=key_a)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    create = "from campaigns.models import Provider as P; p=P(name='Acme', base_url='http://127.0.0.1:9/v1'); p.set_api_key('sk-x-1234'); p.save()"
    subprocess.run([*manage, "shell", "-c", create], cwd=ROOT, env=env, check=True)
    ok = subprocess.run([sys.executable, "-c", "import copygen.asgi"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    env["COPYGEN_ENCRYPTION_KEYS"] = key_b
    bad = subprocess.run([sys.executable, "-c", "import copygen.asgi"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "copygen.E001" in bad.stderr and "Acme" in bad.stderr
