"""Import a script of compose/ (not in a package) as a module: the tests and the benchmarks
that use the local runner's own definitions (e.g. its AWS emulator command) load it this way."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LOCAL = Path(__file__).resolve().parent


def load_script(name: str, path: Path) -> ModuleType:
    """The script at `path` imported as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def load_runner() -> ModuleType:
    """The local runner (compose/local/runner.py) as module `innotter_runner`."""
    return load_script("innotter_runner", LOCAL / "runner.py")
