#!/usr/bin/env bash
# The compose checks of `make test` (tests/compose) validate docker-compose.yml with `docker-compose
# config` (Debian's package; no Docker engine needed). Installs it when missing and allowed.
set -euo pipefail
# shellcheck source=compose/local/packages.sh
source "${BASH_SOURCE[0]%/*}/packages.sh"

if ! command -v docker-compose >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 \
  && docker compose version >/dev/null 2>&1; then
  exit 0  # the Docker CLI's compose plugin does the same
fi
ensure_command docker-compose docker-compose "the compose checks of make test validate docker-compose.yml with it"
