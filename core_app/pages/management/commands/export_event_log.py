"""`python manage.py export_event_log [--output FILE]`: the event log as newline-delimited JSON.

One `EventEnvelope` per line, in log order, up to the log's stable head (events/horizon.py):
the export is a prefix of the log with no gap a late commit could fill afterwards, so a
rebuild from it followed by the live events misses none. The input of projection rebuilds
that do not read the core's database, such as `python -m stats_ms.rebuild`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from events.append import to_envelope
from events.horizon import stable_head
from events.models import StoredEvent

CHUNK = 2000


def export_event_log(write_line: Callable[[str], object], *, after: int = 0) -> int:
    """Hand every event after `after`, up to the stable head, to `write_line` as JSON; returns the count."""
    count = 0
    with connection.cursor() as cursor:
        upto = stable_head(cursor)
    events = StoredEvent.objects.filter(position__gt=after, position__lte=upto).order_by("position")
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
