"""`python manage.py export_event_log [--output FILE]`: the event log as newline-delimited JSON.

One `EventEnvelope` per line, in log (commit) order: the input of projection rebuilds that do
not read the core's database, such as `python -m stats_ms.rebuild`.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandParser

from events.append import to_envelope
from events.models import StoredEvent

CHUNK = 2000


def export_event_log(out: IO[str], *, after: int = 0) -> int:
    """Write every event after position `after` to `out`, one JSON envelope a line; returns the count."""
    count = 0
    events = StoredEvent.objects.filter(position__gt=after).order_by("position")
    for event in events.iterator(chunk_size=CHUNK):
        out.write(to_envelope(event).model_dump_json())
        out.write("\n")
        count += 1
    return count


class Command(BaseCommand):
    help = "Write the event log as newline-delimited JSON envelopes, in log order."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
        parser.add_argument("--after", type=int, default=0, help="only events after this log position")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["output"] == "-":
            count = export_event_log(sys.stdout, after=options["after"])
        else:
            with open(options["output"], "w", encoding="utf-8") as out:
                count = export_event_log(out, after=options["after"])
        self.stderr.write(f"exported {count} events")
