#!/usr/bin/env bash
# The test command (make test): services up, locked dependencies installed, lint, types, the suite.
# Arguments go to pytest. Any failure (pytest's exit code 5, "no tests", included) fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash compose/local/ensure_services.sh
bash compose/local/install.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
.venv/bin/pytest "$@"
