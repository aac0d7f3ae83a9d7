"""Clear timed page blocks that have ended and record their `page.unblocked` events."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from core_app.pages.services import page_unblock_expired


class Command(BaseCommand):
    help = "Unblock pages whose timed block has ended (reads already treat them as unblocked)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = page_unblock_expired()
        self.stdout.write(f"Unblocked {count} page(s).")
