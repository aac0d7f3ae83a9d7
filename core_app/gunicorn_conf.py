"""gunicorn's configuration of the API, the same under the local runner and in the container:

    gunicorn core_app.wsgi:application --config python:core_app.gunicorn_conf --bind HOST:PORT

API_WORKERS     worker processes; default: the CPUs this process may run on, at least 2, at most 16.
                The API is CPU-bound (a request spends far longer in Python than waiting on
                PostgreSQL), so workers beyond the cores only add memory and context switches
                and take CPU from the relay and the consumers on the same machine; two at least
                so one slow request (the statistics proxy waits up to 3 s) does not stall the rest.
API_WORKER_CLASS  `sync` (default) or `gthread` (both answer their own errors as JSON), or any
                gunicorn worker class (e.g. a dotted path), used as given.

Request limits: a request line over 4094 bytes is a 414, more than 100 header fields or one over
8190 bytes a 431, answered in the API's JSON error body by the worker classes above. gunicorn's
own flags (--limit-request-line, ... on the command line or in GUNICORN_CMD_ARGS) override them.

Logs: JSON lines on stderr like every process (observability/logs.py; LOG_FORMAT, LOG_LEVEL),
the access log off unless asked for (--access-logfile), as it is without a logging configuration.
This module only sets gunicorn's settings; it imports neither Django nor the application.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from observability.logs import logging_config

MIN_WORKERS, MAX_WORKERS = 2, 16
WORKER_CLASSES = {
    "sync": "core_app.common.gunicorn_workers.JSONErrorsSyncWorker",
    "gthread": "core_app.common.gunicorn_workers.JSONErrorsThreadWorker",
}


def available_cpus() -> int:
    """CPUs this process may run on (a container's or taskset's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(cpus: int | None = None) -> int:
    return max(MIN_WORKERS, min(cpus or available_cpus(), MAX_WORKERS))


def workers_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    raw = environ.get("API_WORKERS", "").strip()
    if not raw:
        return default_workers()
    count = int(raw)
    if count < 1:
        raise ValueError(f"API_WORKERS must be at least 1, not {raw!r}")
    return count


def worker_class_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    name = environ.get("API_WORKER_CLASS", "").strip() or "sync"
    return WORKER_CLASSES.get(name, name)


workers = workers_from_env()
worker_class = worker_class_from_env()
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): several
# stacks on one machine would take it from each other, and nothing here uses it.
control_socket_disable = True
# The error log as JSON lines (observability/logs.py); the access log stays off unless asked for.
logconfig_dict = logging_config()
logger_class = "core_app.common.gunicorn_logging.Logger"
loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()


# Metrics (observability/): the workers are forked children, so the master sets their shared
# directory before any of them imports prometheus-client, serves what they write on the api's
# metrics port (never the API's), and forgets each worker that exits.
def on_starting(server: object) -> None:
    from observability.metrics_setup import prepare_multiprocess

    if prepare_multiprocess("api") is not None:
        from observability.metrics import serve_metrics

        serve_metrics("api")


def child_exit(server: object, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from observability.metrics import forget_process

        forget_process(worker.pid)


# The JWT key pair is parsed once per worker (~36 ms of RSA key checks): at the worker's start
# rather than in its first request, which would otherwise wait for it. A missing key is not fatal
# here: it is reported, and the requests that need it answer as they would without this hook.
def post_worker_init(worker: Any) -> None:
    from core_app.common.auth.keys import signing_key

    try:
        signing_key()
    except Exception:
        logging.getLogger("gunicorn.error").warning("the JWT signing key could not be loaded", exc_info=True)
