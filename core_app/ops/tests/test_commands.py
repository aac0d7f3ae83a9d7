from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core_app.common.auth.keys import public_pem_of
from core_app.ops import readiness
from core_app.ops.keys import ensure_key_pair
from core_app.users.models import Role, User


@pytest.mark.django_db
def test_ensure_admin_reads_the_environment(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("INNOTTER_ADMIN_EMAIL", "chief@innotter.test")
    monkeypatch.setenv("INNOTTER_ADMIN_PASSWORD", "Chief-pass-2024")

    call_command("ensure_admin")
    call_command("ensure_admin")

    assert User.objects.get(email="chief@innotter.test").role == Role.ADMIN
    out = capsys.readouterr().out
    assert "created" in out and "already exists" in out


@pytest.mark.django_db
def test_ensure_admin_needs_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INNOTTER_ADMIN_EMAIL", "chief@innotter.test")
    monkeypatch.delenv("INNOTTER_ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="INNOTTER_ADMIN_PASSWORD"):
        call_command("ensure_admin")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_ensure_admin_rejects_a_weak_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INNOTTER_ADMIN_EMAIL", "chief@innotter.test")
    monkeypatch.setenv("INNOTTER_ADMIN_PASSWORD", "12345678")
    with pytest.raises(CommandError, match="password"):
        call_command("ensure_admin")
    assert not User.objects.exists()


def test_key_pair_generated_once_and_public_key_restored(tmp_path: Path) -> None:
    private, public = tmp_path / "private" / "k.pem", tmp_path / "public" / "k.pub.pem"

    assert ensure_key_pair(private, public) == "generated"
    first = private.read_bytes()
    assert public.read_bytes() == public_pem_of(first)
    assert private.stat().st_mode & 0o077 == 0
    assert ensure_key_pair(private, public) == "present"
    public.unlink()
    assert ensure_key_pair(private, public) == "public key written"
    assert private.read_bytes() == first
    assert public.read_bytes() == public_pem_of(first)


def test_generate_jwt_keys_command(tmp_path: Path, capsys) -> None:
    private, public = tmp_path / "a.pem", tmp_path / "b.pem"
    call_command("generate_jwt_keys", "--private", str(private), "--public", str(public))
    assert private.exists() and public.exists()
    assert "generated" in capsys.readouterr().out


def test_wait_for_polls_until_ready() -> None:
    answers = iter([False, False, True])
    with mock.patch.dict(readiness.PROBES, {"db": lambda: next(answers)}):
        assert readiness.wait_until_ready(["db"], timeout=5, interval=0.01) == []


def test_wait_for_fails_after_the_deadline() -> None:
    with (
        mock.patch.dict(readiness.PROBES, {"broker": lambda: False}),
        pytest.raises(CommandError, match="broker"),
    ):
        call_command("wait_for", "broker", "--timeout", "0.05")


@pytest.mark.django_db
def test_real_dependencies_answer() -> None:
    assert readiness.database_ready()
    assert readiness.broker_ready()


def test_broker_probe_fails_on_a_closed_port(settings) -> None:
    settings.RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:1/"
    assert readiness.broker_ready() is False
