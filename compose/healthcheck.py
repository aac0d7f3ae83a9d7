"""Container health checks, standard library only (both images run it).

python compose/healthcheck.py http URL        # 200 from URL
python compose/healthcheck.py process WORD    # the container's main process (pid 1) runs WORD
python compose/healthcheck.py file PATH       # PATH exists and is not empty
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path


def http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def process(word: str) -> bool:
    """Liveness of a process without an HTTP endpoint: the entrypoint exec'd it as pid 1."""
    try:
        argv = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(word.encode() in arg for arg in argv)


def file(path: str) -> bool:
    target = Path(path)
    return target.is_file() and target.stat().st_size > 0


CHECKS = {"http": http, "process": process, "file": file}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in CHECKS:
        print(__doc__, file=sys.stderr)
        return 2
    return 0 if CHECKS[argv[0]](argv[1]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
