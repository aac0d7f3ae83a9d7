"""Both Dockerfiles: multi-stage, hash-checked install of Pipfile.lock, non-root, no secrets inside."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest

from tests.compose.conftest import ROOT

DOCKERFILES = {
    "core": ROOT / "compose" / "core" / "Dockerfile",
    "stats": ROOT / "compose" / "stats" / "Dockerfile",
}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def final_stage(path: Path) -> list[tuple[str, str]]:
    steps = instructions(path)
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_multi_stage_build_installs_the_lock_with_hashes(name: str) -> None:
    steps = instructions(DOCKERFILES[name])
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2 and any(" AS builder" in f for f in froms)
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert "pipenv requirements --hash" in runs
    assert "--require-hashes" in runs
    copies = [args for word, args in steps if word == "COPY"]
    assert "Pipfile Pipfile.lock ./" in copies
    runtime = final_stage(DOCKERFILES[name])
    assert any(w == "COPY" and a.startswith("--from=builder /opt/venv") for w, a in runtime)
    assert "pipenv" not in " ".join(a for w, a in runtime if w == "RUN"), "no pipenv in the runtime image"


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_runs_as_a_non_root_user(name: str) -> None:
    users = [args for word, args in final_stage(DOCKERFILES[name]) if word == "USER"]
    assert users, "the runtime stage must switch to a user"
    assert users[-1] not in {"root", "0", "0:0"}


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_no_secret_is_baked_in(name: str) -> None:
    steps = instructions(DOCKERFILES[name])
    env_and_args = " ".join(args for word, args in steps if word in {"ENV", "ARG"})
    assert not re.search(r"SECRET|PASSWORD|PRIVATE_KEY|ACCESS_KEY", env_and_args)
    copies = " ".join(args for word, args in steps if word in {"COPY", "ADD"})
    assert ".env" not in copies and ".pem" not in copies
    assert not re.search(r"COPY\s+\.\s", " ".join(f"{w} {a} " for w, a in steps)), "copy named paths only"


def test_dockerignore_keeps_local_files_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", "var", "**/*.pem", ".git"} <= ignored


def test_statistics_image_holds_no_core_code() -> None:
    copies = " ".join(args for word, args in instructions(DOCKERFILES["stats"]) if word == "COPY")
    assert "core_app" not in copies and "stats_ms" in copies


def test_images_install_what_the_local_runner_has() -> None:
    """The images install [packages] of Pipfile.lock; the runner's .venv must hold exactly those."""
    lock = json.loads((ROOT / "Pipfile.lock").read_text())
    mismatched = {}
    for name, spec in lock["default"].items():
        wanted = spec["version"].removeprefix("==")
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != wanted:
            mismatched[name] = (wanted, installed)
    assert not mismatched, f"run `make install` (pipenv sync): {mismatched}"


def test_entrypoints_are_executable_shell_scripts() -> None:
    for path in (ROOT / "entrypoint.sh", ROOT / "compose" / "stats" / "entrypoint.sh"):
        assert path.read_text().startswith("#!/bin/sh")
        assert path.stat().st_mode & 0o111
        assert "exec " in path.read_text()
