"""`python manage.py rebuild_feed`: rebuild the news-feed projection from the event log."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from tqdm import tqdm

from projections.feed.rebuild import event_count, rebuild_feed


class Command(BaseCommand):
    help = "Rebuild every feed from the event log (no e-mail is sent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        with tqdm(total=event_count(), unit="event", disable=options["no_progress"]) as bar:
            replayed = rebuild_feed(progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"feed rebuilt from {replayed} events"))
