"""The README's commands install what they need: docker-compose for `make test` when it is
missing and the user may install packages (saying so), and CI runs nothing but `make test`."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.compose.conftest import ROOT

SCRIPT = ROOT / "compose" / "local" / "ensure_docker_compose.sh"
BASH = shutil.which("bash") or "/bin/bash"


def executable(path: Path, text: str) -> Path:
    path.write_text("#!" + BASH + "\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """A PATH of its own: no docker-compose, no docker, no sudo, no apt-get; `id` says root."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "id", 'echo "${FAKE_UID:-0}"\n')
    for tool in ("env", "cat", "chmod", "true"):
        os.symlink(shutil.which(tool) or f"/usr/bin/{tool}", bin_dir / tool)
    return bin_dir


def fake_compose_maker(bin_dir: Path) -> str:
    """An installer that records its arguments and makes a docker-compose appear."""
    record = bin_dir.parent / "installed"
    maker = executable(
        bin_dir.parent / "fake-install",
        f'echo "$@" >> {record}\nprintf "#!{BASH}\\necho fake\\n" > {bin_dir}/docker-compose\n'
        f"chmod +x {bin_dir}/docker-compose\n",
    )
    return str(maker)


def run(bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(SCRIPT)],
        env={"PATH": str(bin_dir), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_nothing_happens_when_docker_compose_is_there(bare: Path) -> None:
    executable(bare / "docker-compose", "exit 0\n")
    result = run(bare, INNOTTER_INSTALL_COMMAND=fake_compose_maker(bare))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and not (bare.parent / "installed").exists()


def test_a_missing_docker_compose_is_installed_and_announced(bare: Path) -> None:
    result = run(bare, INNOTTER_INSTALL_COMMAND=fake_compose_maker(bare))
    assert result.returncode == 0, result.stderr
    assert "installing docker-compose" in result.stdout
    assert f"installed docker-compose ({bare}/docker-compose)" in result.stdout
    assert (bare.parent / "installed").read_text().split() == ["docker-compose"]


def test_the_default_installer_is_apt_through_sudo_for_a_user(bare: Path) -> None:
    calls = bare.parent / "calls"
    executable(bare / "sudo", f'echo "sudo $*" >> {calls}\n[ "$1" = -n ] && shift\nexec "$@"\n')
    executable(
        bare / "apt-get",
        f'echo "apt-get $*" >> {calls}\n'
        f'if [ "$1" = install ]; then printf "#!{BASH}\\n" > {bare}/docker-compose; '
        f"chmod +x {bare}/docker-compose; fi\n",
    )
    result = run(bare, FAKE_UID="1000")
    assert result.returncode == 0, result.stderr
    lines = calls.read_text().splitlines()
    assert lines[0] == "sudo -n true"  # may this user install? (no password prompt)
    assert "apt-get update -qq" in lines
    assert "apt-get install -y -qq --no-install-recommends docker-compose" in lines
    assert "installing docker-compose" in result.stdout


def test_a_user_who_may_not_install_is_told_what_to_run(bare: Path) -> None:
    executable(bare / "apt-get", "exit 99\n")
    result = run(bare, FAKE_UID="1000")  # not root, and no sudo
    assert result.returncode == 1
    assert "may not install packages" in result.stderr
    assert "sudo apt-get install -y docker-compose" in result.stderr


def test_an_install_that_does_not_provide_it_fails(bare: Path) -> None:
    result = run(bare, INNOTTER_INSTALL_COMMAND=str(executable(bare.parent / "noop", "exit 0\n")))
    assert result.returncode == 1
    assert "still not on PATH" in result.stderr


def test_make_test_ensures_docker_compose_before_the_suite() -> None:
    lines = [
        line for line in (ROOT / "compose" / "local" / "test.sh").read_text().splitlines() if line.strip()
    ]
    ensure = next(i for i, line in enumerate(lines) if "ensure_docker_compose.sh" in line)
    pytest_run = next(i for i, line in enumerate(lines) if line.startswith(".venv/bin/pytest"))
    assert ensure < pytest_run


def test_ci_runs_only_the_readme_command() -> None:
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in script if line.strip() and not line.startswith("#")]
    assert commands == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', "make test"]
    assert "```sh\nmake test\n```" in (ROOT / "README.md").read_text()
