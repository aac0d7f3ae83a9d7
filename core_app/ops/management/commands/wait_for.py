"""Wait until the database, the broker and/or the AWS endpoint answer (container start-up)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core_app.ops.readiness import PROBES, wait_until_ready


class Command(BaseCommand):
    help = "Wait until the named dependencies (db, broker, aws) answer, or fail after --timeout seconds."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("dependencies", nargs="*", choices=sorted(PROBES), default=sorted(PROBES))
        parser.add_argument("--timeout", type=float, default=60.0)

    def handle(self, *args: Any, **options: Any) -> None:
        names: list[str] = options["dependencies"] or sorted(PROBES)
        failing = wait_until_ready(names, timeout=options["timeout"])
        if failing:
            raise CommandError(f"not ready after {options['timeout']:g}s: {', '.join(failing)}")
        self.stdout.write(f"ready: {', '.join(names)}")
