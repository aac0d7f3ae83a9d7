#!/usr/bin/env bash
# Installs the locked dependency set (Pipfile.lock) into ./.venv with pipenv.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PIPENV_VENV_IN_PROJECT=1 PIPENV_NOSPIN=1 PIPENV_YES=1
command -v pipenv >/dev/null 2>&1 || python3 -m pip install --quiet pipenv
pipenv sync --dev
