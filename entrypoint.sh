#!/bin/sh
# Entry point of the core image: `entrypoint.sh <role> [args]`.
#   keys    one-shot: write the JWT key pair if absent (private and public halves on separate volumes)
#   api     wait for PostgreSQL, RabbitMQ and AWS; migrate; declare the broker topology; ensure the
#           bucket and the SES sender; create the admin if missing; then serve the API
#   relay   the event-log relay          worker  the Celery worker       beat  the Celery scheduler
#   manage  any manage.py command, e.g. `docker compose run --rm api manage seed_demo`
# Every command here is also run by the local runner (compose/local/runner.py); tests/compose checks it.
set -eu

WAIT_TIMEOUT="${WAIT_TIMEOUT:-120}"

run_step() {
  echo "entrypoint: $*"
  "$@"
}

role="${1:-api}"
[ "$#" -gt 0 ] && shift
# the `process` field of the JSON log lines (observability/logs.py)
export PROCESS_NAME="${PROCESS_NAME:-$role}"

case "$role" in
  keys)
    exec python manage.py generate_jwt_keys
    ;;
  api)
    run_step python manage.py wait_for db broker aws --timeout "$WAIT_TIMEOUT"
    run_step python manage.py migrate --noinput
    run_step python manage.py declare_topology
    run_step python manage.py ensure_aws
    run_step python manage.py ensure_admin
    # workers (API_WORKERS, API_WORKER_CLASS) and request limits: core_app/gunicorn_conf.py
    exec gunicorn core_app.wsgi:application --config python:core_app.gunicorn_conf --bind 0.0.0.0:8000
    ;;
  relay)
    run_step python manage.py wait_for db broker --timeout "$WAIT_TIMEOUT"
    exec python manage.py run_relay
    ;;
  worker)
    run_step python manage.py wait_for db broker aws --timeout "$WAIT_TIMEOUT"
    exec celery -A projections.celery_app --quiet worker --loglevel=INFO -n "worker@%h"
    ;;
  beat)
    run_step python manage.py wait_for db broker --timeout "$WAIT_TIMEOUT"
    exec celery -A projections.celery_app --quiet beat --loglevel=INFO
    ;;
  manage)
    exec python manage.py "$@"
    ;;
  *)
    echo "entrypoint: unknown role '$role' (keys, api, relay, worker, beat, manage)" >&2
    exit 64
    ;;
esac
