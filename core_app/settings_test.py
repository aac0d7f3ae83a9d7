"""Settings for the test suite: the real settings with test-only defaults."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("JWT_GENERATE_DEV_KEYS", "1")
os.environ.setdefault("JWT_PRIVATE_KEY_FILE", "var/test-keys/jwt_private.pem")
os.environ.setdefault("JWT_PUBLIC_KEY_FILE", "var/test-keys/jwt_public.pem")
# Fake AWS credentials: presigning is local, and boto3 must not go looking for real ones.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from core_app.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Static files are served from the apps in tests; no collected directory is needed.
STATIC_ROOT = None  # type: ignore[assignment]
