"""`python manage.py export_event_log [--output FILE]`: the event log as newline-delimited JSON.

One `EventEnvelope` per line, in log (commit) order: the input of projection rebuilds that do
not read the core's database, such as `python -m stats_ms.rebuild`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from events.append import to_envelope
from events.models import StoredEvent

CHUNK = 2000


def export_event_log(write_line: Callable[[str], object], *, after: int = 0) -> int:
    """Hand every event after position `after` to `write_line` as one JSON envelope; returns the count."""
    count = 0
    events = StoredEvent.objects.filter(position__gt=after).order_by("position")
    for event in events.iterator(chunk_size=CHUNK):
        write_line(to_envelope(event).model_dump_json())
        count += 1
    return count


class Command(BaseCommand):
    help = "Write the event log as newline-delimited JSON envelopes, in log order."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
        parser.add_argument("--after", type=int, default=0, help="only events after this log position")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["output"] == "-":
            count = export_event_log(self.stdout.write, after=options["after"])  # adds the newline
        else:
            with open(options["output"], "w", encoding="utf-8") as out:
                count = export_event_log(lambda line: out.write(line + "\n"), after=options["after"])
        self.stderr.write(f"exported {count} events")
