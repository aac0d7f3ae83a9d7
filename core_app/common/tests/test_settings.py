from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core_app.settings import BASE_DIR as ROOT
from core_app.settings import env_bool, secret_key


@pytest.mark.parametrize(
    "raw,default,expected",
    [(None, True, True), ("", True, True), ("  ", False, False), ("1", False, True), ("off", True, False)],
)
def test_env_bool_treats_unset_and_empty_as_the_default(
    raw: str | None, default: bool, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if raw is None:
        monkeypatch.delenv("INNOTTER_TEST_FLAG", raising=False)
    else:
        monkeypatch.setenv("INNOTTER_TEST_FLAG", raw)
    assert env_bool("INNOTTER_TEST_FLAG", default) is expected


def test_admin_static_files_are_served_without_collectstatic(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).strip()


# --- the secret, debug and TLS switches, read as a fresh process would -------------------------


def load_settings(env: dict[str, str], *names: str) -> dict[str, object]:
    """The named settings of core_app.settings imported in a clean process with `env`."""
    code = (
        "import json, core_app.settings as s\n"
        f"print(json.dumps({{n: getattr(s, n, None) for n in {list(names)!r}}}, default=list))"
    )
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "POSTGRES_DB"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        # set, even empty, so that a developer's .env cannot fill them in
        env={**keep, "DJANGO_SECRET_KEY": "", "DJANGO_DEBUG": "", "DJANGO_BEHIND_TLS": "", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


def test_production_is_the_default(tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text("from-the-file\n")
    got = load_settings({"DJANGO_SECRET_KEY_FILE": str(secret)}, "DEBUG", "SECRET_KEY")
    assert got == {"DEBUG": False, "SECRET_KEY": "from-the-file"}


def test_debug_only_when_asked(tmp_path: Path) -> None:
    missing = str(tmp_path / "none")
    got = load_settings({"DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY_FILE": missing}, "DEBUG", "SECRET_KEY")
    assert got == {"DEBUG": True, "SECRET_KEY": "dev-insecure-secret-key"}


def test_secret_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret_key"
    monkeypatch.setenv("DJANGO_SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("DJANGO_SECRET_KEY", "")
    with pytest.raises(RuntimeError, match="no secret key"):
        secret_key(debug=False)  # production never runs on a made-up secret
    secret.write_text("  filed  \n")
    assert secret_key(debug=False) == "filed"
    monkeypatch.setenv("DJANGO_SECRET_KEY", "from-env")
    assert secret_key(debug=False) == "from-env"


def test_behind_tls_turns_on_hsts_secure_cookies_and_the_proxy_header() -> None:
    names = ("SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
    plain = load_settings({"DJANGO_SECRET_KEY": "k"}, *names)
    assert plain == dict.fromkeys(names)  # Django's defaults: not set here
    tls = load_settings({"DJANGO_SECRET_KEY": "k", "DJANGO_BEHIND_TLS": "1"}, *names)
    assert tls == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_HSTS_SECONDS": 31536000,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
    }


def test_the_docs_are_served_from_the_sidecar() -> None:
    from django.conf import settings

    assert "drf_spectacular_sidecar" in settings.INSTALLED_APPS
    assert settings.SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"] == "SIDECAR"
    assert settings.SPECTACULAR_SETTINGS["REDOC_DIST"] == "SIDECAR"
