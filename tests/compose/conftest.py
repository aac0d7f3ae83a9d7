from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from compose.local.scripts import load_runner

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "DJANGO_SECRET_KEY": "test-secret",
    "POSTGRES_PASSWORD": "test-pg",
    "RABBITMQ_PASSWORD": "test-rabbit",
    "INNOTTER_ADMIN_PASSWORD": "test-admin",
}


def compose_tool() -> list[str]:
    """docker-compose (Debian's package) or the `docker compose` plugin; the test fails without one."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    pytest.fail("docker-compose is not installed (apt-get install -y docker-compose; .ci/run installs it)")


def run_config(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # A clean environment and an empty env file: only what the test passes counts, so a
    # developer's shell or .env cannot make the check pass by accident.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env_extra}
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty:
        compose_file = str(ROOT / "docker-compose.yml")
        return subprocess.run(
            [*compose_tool(), "--env-file", empty.name, "-f", compose_file, "config", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=False,
            timeout=60,
        )


@pytest.fixture(scope="session")
def compose_config() -> dict[str, Any]:
    """The compose file as the tool resolves it (anchors merged, variables interpolated)."""
    result = run_config(SECRETS)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@pytest.fixture(scope="session")
def runner() -> ModuleType:
    return load_runner()
