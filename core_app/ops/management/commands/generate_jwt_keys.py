"""Write the RS256 key pair (JWT_PRIVATE_KEY_FILE, JWT_PUBLIC_KEY_FILE) unless it exists."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from core_app.ops.keys import ensure_key_pair


class Command(BaseCommand):
    help = "Generate the JWT signing key pair if absent (the stats service is given the public file only)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--private", type=Path, default=Path(settings.JWT_PRIVATE_KEY_FILE))
        parser.add_argument("--public", type=Path, default=Path(settings.JWT_PUBLIC_KEY_FILE))

    def handle(self, *args: Any, **options: Any) -> None:
        outcome = ensure_key_pair(options["private"], options["public"])
        self.stdout.write(f"JWT keys {outcome}: {options['private']} / {options['public']}")
