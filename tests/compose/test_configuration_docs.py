"""Every configuration variable is documented in the README and reaches the containers."""

from __future__ import annotations

import re
from typing import Any

from tests.compose.conftest import ROOT

# Compose supplies the key as a file instead; the runner's own settings; compose's own settings
# (used in docker-compose.yml itself, not passed by name).
NOT_IN_CONTAINERS = {
    "JWT_PRIVATE_KEY",
    "DJANGO_SECRET_KEY_FILE",  # the runner's generated secret; compose passes DJANGO_SECRET_KEY
    "INNOTTER_VAR_DIR",
    "RUN_HEALTH_TIMEOUT",
    "RUN_SKIP",
    "METRICS_PORT_BASE",  # the runner's; each container gets its own METRICS_PORT
    "SCALE",  # compose scales with `docker compose up --scale NAME=N`
}
USED_BY_COMPOSE_ITSELF = {
    "API_PORT",
    "STATS_PORT",
    "AWS_PORT",
    "RABBITMQ_USER",
    "RABBITMQ_PASSWORD",
    "RABBITMQ_UI_PORT",
    "PROMETHEUS_PORT",
    "GRAFANA_PORT",
}


def example_variables() -> list[str]:
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), flags=re.M)
    assert len(names) > 20
    return names


def test_readme_documents_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in example_variables() if f"`{name}`" not in readme]
    assert not missing, f"add to the README's configuration table: {missing}"


def test_every_variable_reaches_a_container(compose_config: dict[str, Any]) -> None:
    passed: set[str] = set()
    for svc in compose_config["services"].values():
        passed |= set(svc.get("environment", {}))
    skipped = NOT_IN_CONTAINERS | USED_BY_COMPOSE_ITSELF
    missing = [n for n in example_variables() if n not in passed and n not in skipped]
    assert not missing, f"pass these to the containers in docker-compose.yml: {missing}"


def test_compose_and_runner_settings_are_used() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    runner = (ROOT / "compose" / "local" / "runner.py").read_text()
    assert all(f"${{{name}" in compose for name in USED_BY_COMPOSE_ITSELF)
    assert all(f'"{name}"' in runner for name in NOT_IN_CONTAINERS - {"JWT_PRIVATE_KEY"})


def test_the_worker_settings_reach_the_api_container_only(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert services["api"]["environment"]["API_WORKER_CLASS"] == "sync"
    assert services["api"]["environment"]["API_WORKERS"] == ""  # the default: from the CPU count
    assert services["api"]["environment"]["DJANGO_SECRET_KEY"] == "test-secret"  # the anchor merged in
    assert "API_WORKERS" not in services["worker"]["environment"]
