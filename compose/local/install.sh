#!/usr/bin/env bash
# Installs the locked dependency set (Pipfile.lock) into ./.venv with pipenv (installed first if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PIPENV_VENV_IN_PROJECT=1 PIPENV_NOSPIN=1 PIPENV_YES=1 PIPENV_VERBOSITY=-1

if command -v pipenv >/dev/null 2>&1; then
  PIPENV=(pipenv)
else
  echo "installing pipenv for this user"
  # Debian's Python refuses plain `pip install` (PEP 668); a user install of one tool is safe.
  python3 -m pip install --quiet --user pipenv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages pipenv
  PIPENV=(python3 -m pipenv)
fi
"${PIPENV[@]}" sync --dev
