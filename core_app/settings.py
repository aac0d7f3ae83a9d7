"""Settings of the Innotter core, read from environment variables only (see .env.example)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv

from observability.logs import logging_config
from observability.metrics_setup import metrics_enabled

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"environment variable {name} is required")
    return value


def env_bool(name: str, default: bool) -> bool:
    """A boolean variable; unset or empty means `default`."""
    raw = os.environ.get(name, "").strip().lower()
    return default if not raw else raw in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


# Production unless asked: debug mode (HTML debug pages, settings in 500s) only with DJANGO_DEBUG=1.
DEBUG = env_bool("DJANGO_DEBUG", False)


def secret_key(debug: bool) -> str:
    """DJANGO_SECRET_KEY, else the file DJANGO_SECRET_KEY_FILE (default var/secret_key, which the
    local runner generates once with mode 0600), else, in debug mode only, a fixed throwaway one."""
    if value := os.environ.get("DJANGO_SECRET_KEY", "").strip():
        return value
    path = BASE_DIR / (env("DJANGO_SECRET_KEY_FILE", "") or "var/secret_key")  # relative: to the root
    try:
        if value := path.read_text().strip():
            return value
    except FileNotFoundError:
        pass
    if debug:
        return "dev-insecure-secret-key"
    raise RuntimeError(
        f"no secret key: set DJANGO_SECRET_KEY or DJANGO_SECRET_KEY_FILE ({path} does not exist; "
        "`make run` creates it)"
    )


SECRET_KEY = secret_key(DEBUG)
ALLOWED_HOSTS = [h.strip() for h in env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in env("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# A failed CSRF check (the admin panel's forms) answers the API's JSON error body too.
CSRF_FAILURE_VIEW = "core_app.common.exceptions.csrf_failure"

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and only then: a client could set
# the header itself otherwise): HSTS, cookies only over HTTPS, request.is_secure() from the proxy.
# No redirect to HTTPS here: that is the proxy's job, and the containers' health checks use HTTP.
BEHIND_TLS = env_bool("DJANGO_BEHIND_TLS", False)
if BEHIND_TLS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "core_app.common.apps.InnotterAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as local static files (no CDN)
    "events",
    "core_app.users",
    "core_app.pages",
    "core_app.posts",
    "projections",
    "projections.digests.apps.DigestsConfig",
    "core_app.ops",
]

# Sessions, the CSRF cookie, Django's auth and messages serve the admin panel only: they pass
# API requests straight on (core_app/common/admin_middleware.py).
MIDDLEWARE = [
    # the request id (X-Request-ID): bound first, on every answer (core_app/common/request_id.py)
    "core_app.common.request_id.RequestIdMiddleware",
    # next: an error answer of any layer below that is not JSON gets the API's error body
    "core_app.common.exceptions.JSONErrorsMiddleware",
    "core_app.common.middleware.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core_app.common.admin_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "core_app.common.admin_middleware.CsrfViewMiddleware",
    "core_app.common.admin_middleware.AuthenticationMiddleware",
    "core_app.common.auth.middleware.JWTAuthenticationMiddleware",
    "core_app.common.admin_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Outermost: times every request, whatever layer answers it (observability/metrics.py).
if metrics_enabled():
    MIDDLEWARE.insert(0, "core_app.common.metrics.MetricsMiddleware")

ROOT_URLCONF = "core_app.urls"
WSGI_APPLICATION = "core_app.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # project-wide overrides of app templates (the ReDoc page without outside fonts)
        "DIRS": [BASE_DIR / "core_app" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        # Django's backend with a health check that asks the socket before it sends `SELECT 1`
        "ENGINE": "core_app.common.postgresql",
        "HOST": env("POSTGRES_HOST", "127.0.0.1"),
        "PORT": env("POSTGRES_PORT", "5432"),
        "NAME": env("POSTGRES_DB", "innotter"),
        "USER": env("POSTGRES_USER", "postgres"),
        "PASSWORD": env("POSTGRES_PASSWORD", ""),
        "CONN_MAX_AGE": env_int("POSTGRES_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    h
    for h in env(
        "DJANGO_PASSWORD_HASHERS",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ).split(",")
    if h
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Without collectstatic (the local runner), WhiteNoise serves the admin's files from the apps.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", not (STATIC_ROOT / "admin").exists())
STORAGES = {
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["core_app.common.auth.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "core_app.common.parsers.StrictJSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["core_app.common.renderers.ORJSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "core_app.common.pagination.CursorPagination",
    "EXCEPTION_HANDLER": "core_app.common.exceptions.api_exception_handler",
    "DEFAULT_METADATA_CLASS": "core_app.common.metadata.Metadata",
    "DEFAULT_SCHEMA_CLASS": "core_app.common.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Innotter API",
    "DESCRIPTION": "Pages, posts, follows, likes, feed, search and moderation.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs pages load their scripts from our own static files, pinned by Pipfile.lock.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # no badge that sends the schema's URL to swagger.io's online validator
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# JWT (RS256). Keys come from the environment; development generates a pair under var/keys.
JWT_PRIVATE_KEY = env("JWT_PRIVATE_KEY", "")
JWT_PRIVATE_KEY_FILE = env("JWT_PRIVATE_KEY_FILE", str(BASE_DIR / "var" / "keys" / "jwt_private.pem"))
JWT_PUBLIC_KEY_FILE = env("JWT_PUBLIC_KEY_FILE", str(BASE_DIR / "var" / "keys" / "jwt_public.pem"))
JWT_KID = env("JWT_KID", "")
JWT_ISSUER = env("JWT_ISSUER", "innotter")
JWT_ACCESS_TTL = timedelta(seconds=env_int("JWT_ACCESS_TTL_SECONDS", 300))
JWT_REFRESH_TTL = timedelta(seconds=env_int("JWT_REFRESH_TTL_SECONDS", 14 * 24 * 3600))
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 10)
LOGIN_FAILURE_WINDOW = timedelta(seconds=env_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60))

# Broker and AWS.
RABBITMQ_URL = env("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
EVENTS_EXCHANGE = env("EVENTS_EXCHANGE", "events")
AWS_ENDPOINT_URL = env("AWS_ENDPOINT_URL", "") or None
AWS_REGION = env("AWS_REGION", "us-east-1")
S3_BUCKET = env("S3_BUCKET", "innotter-media")
S3_PUBLIC_BASE_URL = env("S3_PUBLIC_BASE_URL", "")
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 5 * 1024 * 1024)
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES + 1024 * 1024
SES_SENDER = env("SES_SENDER", "noreply@innotter.local")
APP_BASE_URL = env("APP_BASE_URL", "http://127.0.0.1:8000")
STATS_SERVICE_URL = env("STATS_SERVICE_URL", "http://127.0.0.1:8001")

# Feed projection (home feeds are Redis sorted sets; see projections/feed/store.py).
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
FEED_MAX_ENTRIES = env_int("FEED_MAX_ENTRIES", 800)
FEED_FANOUT_CHUNK = env_int("FEED_FANOUT_CHUNK", 1000)
FEED_FANOUT_MAX_FOLLOWERS = env_int("FEED_FANOUT_MAX_FOLLOWERS", 10000)
FEED_BACKFILL_POSTS = env_int("FEED_BACKFILL_POSTS", 50)

# JSON lines on stderr (LOG_FORMAT=text for a human format), level LOG_LEVEL: observability/logs.py
LOGGING = logging_config()
LOGGING_CONFIG = "observability.logs.apply_config"

# Users and uploads.
S3_PRESIGNED_URL_TTL_SECONDS = env_int("S3_PRESIGNED_URL_TTL_SECONDS", 3600)

# Event pipeline: relay, topology, Celery projections.
EVENTS_QUEUE_PROJECTIONS = env("EVENTS_QUEUE_PROJECTIONS", "projections.events")
EVENTS_QUEUE_STATS = env("EVENTS_QUEUE_STATS", "stats.events")
EVENTS_DEAD_LETTER_EXCHANGE = env("EVENTS_DEAD_LETTER_EXCHANGE", "events.dead")
EVENTS_MAX_DELIVERIES = env_int("EVENTS_MAX_DELIVERIES", 10)
RELAY_NAME = env("RELAY_NAME", "main")
RELAY_BATCH_SIZE = env_int("RELAY_BATCH_SIZE", 500)
RELAY_BATCHES_IN_FLIGHT = env_int("RELAY_BATCHES_IN_FLIGHT", 4)
RELAY_POLL_SECONDS = float(env("RELAY_POLL_SECONDS", "1.0"))
CELERY_TASK_QUEUE = env("CELERY_TASK_QUEUE", "projections.tasks")
CELERY_PREFETCH_MULTIPLIER = env_int("CELERY_PREFETCH_MULTIPLIER", 4)
PROJECTIONS_EVENT_PREFETCH = env_int("PROJECTIONS_EVENT_PREFETCH", 50)
EMAIL_BATCH_SIZE = env_int("EMAIL_BATCH_SIZE", 50)
PAGE_UNBLOCK_INTERVAL_SECONDS = float(env("PAGE_UNBLOCK_INTERVAL_SECONDS", "30"))

# E-mail digests (projections/digests).
DIGEST_BATCH_SIZE = env_int("DIGEST_BATCH_SIZE", 500)
DIGEST_INACTIVE_DAYS = env_int("DIGEST_INACTIVE_DAYS", 30)
DIGEST_MAX_SEND_RATE = float(env("DIGEST_MAX_SEND_RATE", "0"))  # e-mails/s per process; 0: SES's quota
DIGEST_SENDER_PROCESSES = env_int("DIGEST_SENDER_PROCESSES", 1)  # SES's rate is shared by this many

# Statistics service proxy (GET /api/v1/pages/{id}/stats/).
STATS_SERVICE_TIMEOUT_SECONDS = float(env("STATS_SERVICE_TIMEOUT_SECONDS", "3"))
