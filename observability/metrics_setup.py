"""What a process settles before prometheus-client is imported: whether metrics are on, its
metrics port, and (gunicorn, the Celery worker) its multiprocess directory.

prometheus-client picks its value store once, when it is imported: shared files under
PROMETHEUS_MULTIPROC_DIR if that is set then, memory otherwise. A server whose workers are
forked children (gunicorn's workers, Celery's prefork pool) must therefore set it in the parent
before anything imports the client; this module imports neither it nor Django.

METRICS_ENABLED      0 turns metrics off in every process (no server, no middleware, no-op metrics)
METRICS_PORT         this process's metrics port; default per process (DEFAULT_PORTS)
METRICS_HOST         the address the metrics server listens on (127.0.0.1; 0.0.0.0 in containers)
METRICS_MULTIPROC_DIR  where the multiprocess directories go (default: the system's temp dir),
                     one per process instance: <dir>/innotter-metrics-<uid>/<process>-<port>
PROCESS_NAME         the instance's name (api, relay-2, ...), set by the runner
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

# The metrics port of each long-running process when METRICS_PORT is not set (beat has none).
DEFAULT_PORTS = {"api": 9101, "relay": 9102, "worker": 9103, "stats-api": 9104, "stats-consumer": 9105}
OFF_VALUES = {"0", "false", "no", "off"}


def metrics_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("METRICS_ENABLED", "").strip().lower() not in OFF_VALUES


def process_name(default: str, environ: Mapping[str, str] = os.environ) -> str:
    """The instance's name: PROCESS_NAME (relay-2, ...) or the process's own (relay)."""
    return environ.get("PROCESS_NAME", "").strip() or default


def metrics_port(process: str, environ: Mapping[str, str] = os.environ) -> int:
    """METRICS_PORT, else the process's default port."""
    raw = environ.get("METRICS_PORT", "").strip()
    return int(raw) if raw else DEFAULT_PORTS[process]


def multiprocess_dir(process: str, environ: Mapping[str, str] = os.environ) -> Path:
    """This instance's own directory: two stacks (or two workers) on one machine never share one."""
    base = Path(environ.get("METRICS_MULTIPROC_DIR", "").strip() or tempfile.gettempdir())
    instance = f"{process_name(process, environ)}-{metrics_port(process, environ)}"
    return base / f"innotter-metrics-{os.getuid()}" / instance


def prepare_multiprocess(process: str) -> Path | None:
    """Empty this instance's directory and point PROMETHEUS_MULTIPROC_DIR at it (inherited by
    the children forked later); None when metrics are off. Call before prometheus-client is imported."""
    if not metrics_enabled():
        return None
    if "prometheus_client" in sys.modules:
        logger.warning("prometheus_client was imported before the multiprocess directory was set")
    path = multiprocess_dir(process)
    shutil.rmtree(path, ignore_errors=True)  # the files of a previous run would be summed in
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_metrics_port_base(instances: int = 3, attempts: int = 200) -> int:
    """A METRICS_PORT_BASE whose metrics ports (offsets 1-5, + 10 per instance) are all free now:
    for the stacks tests and benchmarks start, which must not meet any other stack's ports."""
    offsets = [offset + 10 * n for n in range(instances) for offset in range(1, len(DEFAULT_PORTS) + 1)]
    for _ in range(attempts):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = int(sock.getsockname()[1])
        if base + max(offsets) < 65536 and all(_port_free(base + offset) for offset in offsets):
            return base
    raise RuntimeError("no free block of metrics ports found")
