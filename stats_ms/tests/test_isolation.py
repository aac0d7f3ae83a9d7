"""The statistics service is a separate service: it must not import Django or the core."""

from __future__ import annotations

import subprocess
import sys

MODULES = ["stats_ms.main", "stats_ms.consumer", "stats_ms.setup", "stats_ms.rebuild"]
FORBIDDEN = {"django", "rest_framework", "core_app", "projections"}


def test_no_django_and_no_core_imports():
    code = "import sys\n" + "".join(f"import {m}\n" for m in MODULES) + "print('\\n'.join(sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(result.stdout.split())
    assert "stats_ms.main" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN) == []
