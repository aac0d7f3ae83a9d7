"""Everything the containers run, the local runner runs too (so the compose path cannot rot unseen)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.compose.conftest import ROOT

ENTRYPOINTS = {
    "innotter-core:local": ROOT / "entrypoint.sh",
    "innotter-stats:local": ROOT / "compose" / "stats" / "entrypoint.sh",
}
# Start-up plumbing of the containers that has no counterpart in a local run.
CONTAINER_ONLY = {"python manage.py wait_for", 'python manage.py "$@"'}
COMPOSE_TO_RUNNER = {"moto": "aws"}
# The AWS emulator's container runs moto's image as published (`moto_server`, Werkzeug's server);
# the runner serves the same moto application under gunicorn so that clients keep their
# connections (compose/local/aws_emulator.py). Neither is part of what runs against real AWS.
OWN_SERVER = {"moto": "moto_server -H HOST -p PORT"}


def normalize(argv: list[str]) -> str:
    """Program base name and arguments, with listen addresses and ports abstracted away."""
    words = [Path(argv[0]).name, *argv[1:]]
    text = " ".join(words)
    text = re.sub(r"\b(?:0\.0\.0\.0|127\.0\.0\.1):\d+", "HOST:PORT", text)
    text = re.sub(r"(--host|-H) (?:0\.0\.0\.0|127\.0\.0\.1)", r"\1 HOST", text)
    return re.sub(r"(--port|-p) \d+", r"\1 PORT", text)


def role_commands(script: Path) -> dict[str, list[str]]:
    """role -> the commands its `case` branch runs (`run_step ...` and `exec ...` lines)."""
    roles: dict[str, list[str]] = {}
    current = None
    for line in script.read_text().splitlines():
        branch = re.match(r"^\s{2}([a-z-]+)\)\s*$", line)
        if branch:
            current = branch.group(1)
            roles[current] = []
            continue
        command = re.match(r"^\s*(?:exec|run_step)\s+(.+)$", line)
        if command and current:
            roles[current].append(command.group(1))
    return roles


def runner_commands(runner: ModuleType) -> set[str]:
    cfg = runner.Config.from_env({})
    commands = {normalize(inst.argv(cfg)) for inst in runner.instances(cfg)}
    commands |= {normalize(argv) for _, argv in runner.setup_steps(cfg)}
    return commands


def compose_commands(compose_config: dict[str, Any]) -> dict[str, list[str]]:
    """service -> the commands it runs, through our entrypoints or its own entrypoint."""
    out: dict[str, list[str]] = {}
    for name, svc in compose_config["services"].items():
        script = ENTRYPOINTS.get(svc.get("image", ""))
        if script is not None:
            (role,) = svc["command"]
            roles = role_commands(script)
            assert role in roles, f"{name}: role {role!r} is not handled by {script.name}"
            out[name] = roles[role]
        elif svc.get("entrypoint"):
            out[name] = [shlex.join(svc["entrypoint"])]
    return out


def test_every_container_command_is_run_by_the_local_runner(
    compose_config: dict[str, Any], runner: ModuleType
) -> None:
    local = runner_commands(runner)
    missing = {}
    for service, commands in compose_commands(compose_config).items():
        for command in commands:
            if any(command.startswith(prefix) for prefix in CONTAINER_ONLY):
                continue
            normalized = normalize(shlex.split(command.replace('"$WAIT_TIMEOUT"', "60")))
            if OWN_SERVER.get(service) == normalized:
                continue
            if normalized not in local:
                missing[service] = normalized
    assert not missing, f"run by containers but not by compose/local/runner.py: {missing}"


def test_the_local_emulator_serves_motos_application_with_keep_alive(runner: ModuleType) -> None:
    argv = runner.AWS.argv(runner.Config.from_env({}))
    assert "aws_emulator:application" in argv
    assert argv[argv.index("--worker-class") + 1] == "gthread"
    assert argv[argv.index("--workers") + 1] == "1"  # the emulated services' state is in-process


def test_every_local_process_has_a_container(compose_config: dict[str, Any], runner: ModuleType) -> None:
    containers = {COMPOSE_TO_RUNNER.get(n, n) for n in compose_config["services"]}
    assert {svc.name for svc in runner.ALL_SERVICES} <= containers


def test_every_role_of_the_entrypoints_is_used(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"].values()
    used = {(svc.get("image"), svc["command"][0]) for svc in services if "command" in svc}
    for image, script in ENTRYPOINTS.items():
        for role in role_commands(script):
            if role in {"manage", "setup"}:
                continue  # for one-off commands (`docker compose run --rm api manage seed_demo`)
            assert (image, role) in used, f"{script.name}: role {role} is not used by docker-compose.yml"


def test_the_parser_sees_the_real_commands() -> None:
    roles = role_commands(ROOT / "entrypoint.sh")
    gunicorn = "gunicorn core_app.wsgi:application --config python:core_app.gunicorn_conf --bind 0.0.0.0:8000"
    assert roles["api"][-1] == gunicorn
    assert "python manage.py migrate --noinput" in roles["api"]
    local = ["/x/gunicorn", "core_app.wsgi:application", "--config", "python:core_app.gunicorn_conf"]
    assert normalize(shlex.split(roles["api"][-1])) == normalize([*local, "--bind", "127.0.0.1:8123"])
