#!/usr/bin/env bash
# The test command: services up, locked dependencies installed, lint, types, then the suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash compose/local/ensure_services.sh
bash compose/local/install.sh
export PIPENV_VENV_IN_PROJECT=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
.venv/bin/pytest "$@"
