#!/usr/bin/env bash
# The test command (make test): what the suite needs installed and running (docker-compose, the
# locked dependencies, PostgreSQL, RabbitMQ), then lint, types, the suite. Arguments go to pytest.
# Any failure (pytest's exit code 5, "no tests", included) fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Without docker-compose (and no right to install it) the rest still runs: the compose checks
# then fail, saying what to install.
bash compose/local/ensure_docker_compose.sh || echo "continuing: the compose checks will fail without docker-compose"
bash compose/local/ensure_services.sh
bash compose/local/install.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
.venv/bin/pytest "$@"
