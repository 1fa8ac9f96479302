"""Settings for copygen, driven by environment variables.

Development defaults need nothing set: SQLite (WAL, IMMEDIATE transactions), the
in-memory channel layer and the engine running inside the server process. With
``DJANGO_DEBUG=false`` the settings refuse to start without a secret key and
encryption keys.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

# Development-only fallbacks. Production (DEBUG off) refuses to start without real ones.
_DEV_SECRET_KEY = "dev-insecure-copygen-secret-key-change-me-0123456789abcdef"
_DEV_ENCRYPTION_KEY = "ZGV2LWluc2VjdXJlLWNvcHlnZW4ta2V5LTMyYnl0ZXM="  # base64 of 32 bytes

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
ENCRYPTION_KEYS = env_list("COPYGEN_ENCRYPTION_KEYS", [])
if not DEBUG:
    if not SECRET_KEY:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    if not ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "COPYGEN_ENCRYPTION_KEYS must be set when DJANGO_DEBUG is off "
            "(comma-separated Fernet keys, the first one encrypts)"
        )
SECRET_KEY = SECRET_KEY or _DEV_SECRET_KEY
ENCRYPTION_KEYS = ENCRYPTION_KEYS or [_DEV_ENCRYPTION_KEY]


def _validate_fernet_keys(keys: list[str]) -> None:
    from cryptography.fernet import Fernet

    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"COPYGEN_ENCRYPTION_KEYS: key #{position} is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from exc


_validate_fernet_keys(ENCRYPTION_KEYS)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Websockets accept pages of their own origin (scheme, host and port) and of these
# (``scheme://host[:port]``, comma-separated); see copygen/ws_origin.py.
COPYGEN_ALLOWED_ORIGINS = env_list("COPYGEN_ALLOWED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "ninja",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "copygen.middleware.DatabaseBusyMiddleware",
]

ROOT_URLCONF = "copygen.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "copygen.asgi.application"

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Writers take the lock when the transaction starts, so two writers never
        # deadlock upgrading a read lock; WAL lets readers run beside one writer.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=20000;"
        ),
    }
    # A file (not :memory:) so worker subprocesses of the tests can share it; per process so
    # concurrent test runs never collide.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")

elif DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_copygen_{os.getpid()}"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Namespace for every Redis key of this deployment (channel layer, shared rate limits), so
# several deployments (or test runs) can share one Redis.
REDIS_PREFIX = os.environ.get("COPYGEN_REDIS_PREFIX", "copygen")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 30, "prefix": f"{REDIS_PREFIX}:asgi"},
        }
    }
else:
    # The default capacity (100 per channel) silently drops events for a busy viewer.
    CHANNEL_LAYERS = {"default": {"BACKEND": "copygen.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

# --- Engine ---------------------------------------------------------------------------
COPYGEN_ENGINE = os.environ.get("COPYGEN_ENGINE", "inline")
if COPYGEN_ENGINE not in {"inline", "worker"}:
    raise ImproperlyConfigured(f"COPYGEN_ENGINE must be 'inline' or 'worker', got {COPYGEN_ENGINE!r}")
# How long a claimed job stays leased without renewal before another process may take it.
COPYGEN_LEASE_SECONDS = int(os.environ.get("COPYGEN_LEASE_SECONDS", "60"))
# Spending quotas: calendar days and months are counted in this time zone.
COPYGEN_QUOTA_TIME_ZONE = os.environ.get("COPYGEN_QUOTA_TIME_ZONE", "") or os.environ.get("COPYGEN_TIME_ZONE", "UTC")
# Optional URL that receives quota warnings (80%, 95%, 100%) as JSON POSTs.
COPYGEN_QUOTA_WEBHOOK_URL = os.environ.get("COPYGEN_QUOTA_WEBHOOK_URL", "")
# Webhook deliveries (from their own outbox): seconds one POST may take, attempts before a
# delivery is given up, and the first retry's delay (doubling up to 5 minutes).
COPYGEN_WEBHOOK_TIMEOUT = float(os.environ.get("COPYGEN_WEBHOOK_TIMEOUT", "10"))
COPYGEN_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("COPYGEN_WEBHOOK_MAX_ATTEMPTS", "8"))
COPYGEN_WEBHOOK_RETRY_SECONDS = float(os.environ.get("COPYGEN_WEBHOOK_RETRY_SECONDS", "2"))
# Minimum gap between two coalesced delta events of one generation.
COPYGEN_DELTA_INTERVAL_MS = int(os.environ.get("COPYGEN_DELTA_INTERVAL_MS", "50"))
# How long the engine gathers finished results before writing them in one batch.
COPYGEN_WRITE_INTERVAL_MS = int(os.environ.get("COPYGEN_WRITE_INTERVAL_MS", "50"))
# Prompt templates (Liquid, campaigns/templating.py): characters a template may have, and a rendered prompt.
COPYGEN_MAX_TEMPLATE_CHARS = int(os.environ.get("COPYGEN_MAX_TEMPLATE_CHARS", "20000"))
COPYGEN_MAX_PROMPT_CHARS = int(os.environ.get("COPYGEN_MAX_PROMPT_CHARS", "32000"))

# --- Auth, static, i18n ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "campaigns:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("COPYGEN_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

if not DEBUG:
    # Production: HTTPS only (terminate TLS at a proxy that sets X-Forwarded-Proto).
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "copygen": {"handlers": ["console"], "level": os.environ.get("COPYGEN_LOG_LEVEL", "INFO")},
        "campaigns": {"handlers": ["console"], "level": os.environ.get("COPYGEN_LOG_LEVEL", "INFO")},
        # One INFO line per provider request drowns the log of a busy engine.
        "httpx": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# Serve /static/ from the ASGI app itself (embedded default). Behind a reverse proxy that
# serves `collectstatic` output, turn it off.
COPYGEN_SERVE_STATIC = env_bool("COPYGEN_SERVE_STATIC", True)
