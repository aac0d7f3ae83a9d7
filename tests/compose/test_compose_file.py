"""docker-compose.yml: accepted by docker-compose, healthy-ordered start, secrets from outside."""

from __future__ import annotations

import shlex
from types import ModuleType
from typing import Any

import pytest

from tests.compose.conftest import SECRETS, run_config
from tests.compose.test_runner_parity import ENTRYPOINTS, role_commands

OUR_IMAGES = {"innotter-core:local", "innotter-stats:local"}
ONE_SHOT = {"keys"}


def test_config_is_accepted(compose_config: dict[str, Any]) -> None:
    result = run_config(SECRETS, "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_every_secret_is_required(secret: str) -> None:
    result = run_config({k: v for k, v in SECRETS.items() if k != secret}, "-q")
    assert result.returncode != 0
    assert secret in result.stderr


def test_the_whole_system_is_there(compose_config: dict[str, Any]) -> None:
    assert set(compose_config["services"]) == {
        "postgres",
        "rabbitmq",
        "redis",
        "moto",
        "keys",
        "api",
        "relay",
        "worker",
        "beat",
        "stats-api",
        "stats-consumer",
        "prometheus",  # these two only with --profile monitoring
        "grafana",
    }
    images = {name: svc.get("image", "") for name, svc in compose_config["services"].items()}
    assert images["rabbitmq"].startswith("rabbitmq:3-management")
    assert images["moto"].startswith("motoserver/moto")
    assert images["postgres"].startswith("postgres:")


def test_every_service_has_a_healthcheck(compose_config: dict[str, Any]) -> None:
    for name, svc in compose_config["services"].items():
        check = svc.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_dependencies_wait_for_health(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for name, svc in services.items():
        for dep, spec in svc.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert spec.get("condition") == expected, f"{name} -> {dep}: {spec}"
    needs = {
        "api": {"postgres", "rabbitmq", "redis", "moto", "keys"},
        "relay": {"api"},
        "worker": {"api"},
        "beat": {"api"},
        "stats-api": {"rabbitmq", "moto", "keys"},
        "stats-consumer": {"stats-api", "api"},
    }
    for name, deps in needs.items():
        assert deps <= set(services[name].get("depends_on", {})), name


def test_postgres_keeps_its_data_in_a_volume(compose_config: dict[str, Any]) -> None:
    volumes = compose_config["services"]["postgres"]["volumes"]
    assert any(v["type"] == "volume" and v["target"] == "/var/lib/postgresql/data" for v in _mounts(volumes))
    assert "pgdata" in compose_config["volumes"]


def _mounts(volumes: list[Any]) -> list[dict[str, Any]]:
    # docker-compose v1 renders short syntax as "source:target[:mode]"; v2 renders dicts.
    out = []
    for v in volumes:
        if isinstance(v, dict):
            out.append(
                {
                    "type": v.get("type", "volume"),
                    "source": v.get("source"),
                    "target": v["target"],
                    "read_only": bool(v.get("read_only")),
                }
            )
        else:
            parts = v.split(":")
            out.append(
                {
                    "type": "volume",
                    "source": parts[0],
                    "target": parts[1],
                    "read_only": len(parts) > 2 and parts[2] == "ro",
                }
            )
    return out


def test_only_the_api_and_key_generator_see_the_private_key(compose_config: dict[str, Any]) -> None:
    for name, svc in compose_config["services"].items():
        sources = {m["source"] for m in _mounts(svc.get("volumes", []))}
        if name in {"api", "keys"}:
            assert {"jwt-private", "jwt-public"} <= sources, name
        else:
            assert "jwt-private" not in sources, f"{name} must not mount the private key"
        if name.startswith("stats-"):
            assert sources == {"jwt-public"}
            mount = _mounts(svc["volumes"])[0]
            assert mount["read_only"]
            assert svc["environment"]["JWT_PUBLIC_KEY_FILE"].startswith(mount["target"])
            assert not any("PRIVATE" in key for key in svc["environment"])


def test_our_images_run_as_their_image_user(compose_config: dict[str, Any]) -> None:
    for name, svc in compose_config["services"].items():
        if svc.get("image") in OUR_IMAGES:
            assert svc.get("user") in (None, "innotter", "10001"), f"{name} overrides the non-root user"
            assert "build" in svc, f"{name} must be built from the repository"


def test_containers_reach_each_other_by_service_name(compose_config: dict[str, Any]) -> None:
    env = compose_config["services"]["worker"]["environment"]
    assert env["POSTGRES_HOST"] == "postgres"
    assert env["AWS_ENDPOINT_URL"] == "http://moto:5000"
    assert "@rabbitmq:5672" in env["RABBITMQ_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    assert env["DJANGO_DEBUG"] == "0"
    stats_env = compose_config["services"]["stats-consumer"]["environment"]
    assert stats_env["AWS_ENDPOINT_URL"] == "http://moto:5000"
    assert stats_env["RABBITMQ_URL"] == env["RABBITMQ_URL"]


def test_the_scalable_services_can_run_several_containers(
    compose_config: dict[str, Any], runner: ModuleType
) -> None:
    """`docker compose up --scale relay=2 --scale worker=3 --scale stats-consumer=2` works: the
    services the runner scales have no fixed container name or host port, and each worker names
    its Celery node after its container."""
    services = compose_config["services"]
    assert set(runner.SCALABLE) == {"relay", "worker", "stats-consumer"}
    for name in runner.SCALABLE:
        assert "container_name" not in services[name], name
        assert not services[name].get("ports"), f"{name}: a host port allows one container only"
    (worker_command,) = [
        c for c in role_commands(ENTRYPOINTS["innotter-core:local"])["worker"] if "celery" in c
    ]
    assert shlex.split(worker_command)[-2:] == ["-n", "worker@%h"]


def test_the_services_that_must_stay_one_are_one(compose_config: dict[str, Any], runner: ModuleType) -> None:
    services = compose_config["services"]
    for name in set(runner.NOT_SCALABLE) - {"aws"}:
        assert services[name].get("deploy", {}).get("replicas", 1) == 1, name
