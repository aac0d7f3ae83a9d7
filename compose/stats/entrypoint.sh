#!/bin/sh
# Entry point of the statistics image: `entrypoint.sh <role>`.
#   api       create the DynamoDB tables if missing, then serve the statistics API
#   consumer  fold the event stream into DynamoDB
#   setup     one-shot: create the tables only
# Every command here is also run by the local runner (compose/local/runner.py); tests/compose checks it.
set -eu

run_step() {
  echo "entrypoint: $*"
  "$@"
}

role="${1:-api}"
# the `process` field of the JSON log lines (observability/logs.py): stats-api, stats-consumer
export PROCESS_NAME="${PROCESS_NAME:-stats-$role}"

case "$role" in
  api)
    run_step python -m stats_ms.setup
    exec uvicorn stats_ms.main:app --host 0.0.0.0 --port 8001
    ;;
  consumer)
    exec python -m stats_ms.consumer
    ;;
  setup)
    exec python -m stats_ms.setup
    ;;
  *)
    echo "entrypoint: unknown role '$role' (api, consumer, setup)" >&2
    exit 64
    ;;
esac
