"""What the contract fuzzer ran: operations, cases and seconds, printed after the run."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import pytest


@dataclass
class FuzzTally:
    """Cases sent per (service, caller, operation), and the time spent in the fuzz tests."""

    cases: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    def record(self, service: str, caller: str, operation: str) -> None:
        self.cases[(service, caller, operation)] += 1

    def answered(self, service: str, status: int) -> None:
        self.statuses[(service, status)] += 1


TALLY = FuzzTally()


@pytest.fixture
def fuzz_tally() -> FuzzTally:
    return TALLY


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    started = time.monotonic()
    try:
        return (yield)
    finally:
        if item.path.parent.name == "fuzz":
            TALLY.seconds[item.path.stem] += time.monotonic() - started


def pytest_terminal_summary(terminalreporter) -> None:
    if not TALLY.cases:
        return
    terminalreporter.section("contract fuzzer")
    for service in sorted({key[0] for key in TALLY.cases}):
        for caller in sorted({key[1] for key in TALLY.cases if key[0] == service}):
            counts = {op: n for (s, c, op), n in TALLY.cases.items() if (s, c) == (service, caller)}
            terminalreporter.write_line(
                f"{service} as {caller}: {len(counts)} operations, {sum(counts.values())} cases"
            )
    for service in sorted({key[0] for key in TALLY.statuses}):
        counts = sorted((status, n) for (s, status), n in TALLY.statuses.items() if s == service)
        terminalreporter.write_line(f"{service} answers: " + ", ".join(f"{st}: {n}" for st, n in counts))
    for module, seconds in sorted(TALLY.seconds.items()):
        terminalreporter.write_line(f"{module}: {seconds:.1f} s")
