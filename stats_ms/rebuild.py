"""Rebuild the statistics from the event log into fresh tables, then switch to them.

The service never reads the core's database: the core exports its log as newline-delimited
JSON envelopes (`python manage.py export_event_log`), and this command folds them with the
same code as the consumer into a new *generation* of tables, then points the meta item at it.

With the consumer running (no downtime), in three steps:

    python -m stats_ms.rebuild begin          # new tables; the consumer holds its writes
    python manage.py export_event_log --output events.ndjson
    python -m stats_ms.rebuild finish --from-file events.ndjson   # fold, then switch

`begin` returns once every consumer has seen the rebuild (they re-read the pointer every
STATS_META_REFRESH_SECONDS). From then on the consumer keeps its messages unacked and the
API answers from the old tables; every event it folded before is in the export, since it was
committed before the export started. After the switch the consumer writes what it held to
the new tables: events the export already had fail the position check, the rest are folded.
Nothing is lost or counted twice; the figures only pause during the rebuild. With the
consumer stopped, one step does it all (`-` reads standard input):

    python manage.py export_event_log | python -m stats_ms.rebuild run --from-file -

`abort` forgets an unfinished generation; `drop --generation G` deletes an old one's tables.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TextIO

from pydantic import ValidationError

from events.contracts import EventEnvelope
from stats_ms.aws import dynamodb_resource
from stats_ms.repository import FoldedEvent, StatsRepository, new_generation_name
from stats_ms.settings import Settings, get_settings

logger = logging.getLogger(__name__)
BATCH = 500


@dataclass
class RebuildReport:
    generation: str
    read: int = 0
    folded: int = 0
    skipped: int = 0
    previous: str | None = None


async def begin(repo: StatsRepository, settings: Settings) -> str:
    """Create a fresh generation and wait until every consumer holds its writes."""
    generation = new_generation_name()
    await repo.begin_building(generation)
    # Consumers re-read the pointer every STATS_META_REFRESH_SECONDS; after twice that, none
    # starts a batch on the old tables any more.
    await asyncio.sleep(2 * settings.stats_meta_refresh_seconds + 0.5)
    return generation


def parse_lines(lines: Iterable[str], report: RebuildReport) -> Iterator[FoldedEvent]:
    """Folded events of an NDJSON export; lines that are not valid events are counted and skipped."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        report.read += 1
        try:
            envelope = EventEnvelope.model_validate_json(line)
            yield FoldedEvent.of(envelope)
        except (ValueError, ValidationError) as exc:
            report.skipped += 1
            logger.warning("line %d skipped: %s", number, exc)


async def fold_into(repo: StatsRepository, generation: str, lines: Iterable[str]) -> RebuildReport:
    """Fold an export into one generation, in batches (the log order is kept)."""
    report = RebuildReport(generation=generation)
    events = parse_lines(lines, report)
    while batch := list(itertools.islice(events, BATCH)):
        await repo.apply_to(generation, batch)
        report.folded += len(batch)
    return report


async def finish(repo: StatsRepository, lines: Iterable[str]) -> RebuildReport:
    """Fold the export into the generation being built and make it the active one."""
    generation = (await repo.generations(fresh=True)).building
    if generation is None:
        raise SystemExit("no rebuild in progress: run `python -m stats_ms.rebuild begin` first")
    report = await fold_into(repo, generation, lines)
    report.previous = await repo.switch_to(generation)
    return report


async def rebuild(repo: StatsRepository, settings: Settings, lines: Iterable[str]) -> RebuildReport:
    """begin + finish in one go (for a stopped consumer, or tests); the tables exist already."""
    await begin(repo, settings)
    return await finish(repo, lines)


def _open(path: str, stack: ExitStack) -> TextIO:
    if path == "-":
        return sys.stdin
    return stack.enter_context(open(path, encoding="utf-8"))


async def _main(args: argparse.Namespace, settings: Settings) -> str:
    async with dynamodb_resource(settings) as dynamodb:
        repo = StatsRepository(dynamodb, settings)
        await repo.ensure_tables()
        if args.step == "begin":
            return f"building generation {await begin(repo, settings)}"
        if args.step == "abort":
            await repo.abandon_building()
            return "rebuild abandoned"
        if args.step == "drop":
            await repo.drop_generation(args.generation)
            return f"dropped generation {args.generation}"
        with ExitStack() as stack:
            lines = _open(args.from_file, stack)
            report = await (rebuild(repo, settings, lines) if args.step == "run" else finish(repo, lines))
        return (
            f"active generation {report.generation} (was {report.previous}): "
            f"{report.folded} events folded, {report.skipped} skipped of {report.read}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stats_ms.rebuild", description=__doc__.split("\n\n")[0])
    parser.add_argument("step", nargs="?", default="run", choices=["run", "begin", "finish", "abort", "drop"])
    parser.add_argument("--from-file", default="-", help="NDJSON export of the event log ('-': stdin)")
    parser.add_argument("--generation", help="the generation to drop")
    args = parser.parse_args(argv)
    if args.step == "drop" and not args.generation:
        parser.error("drop needs --generation")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    print(asyncio.run(_main(args, get_settings())))


if __name__ == "__main__":
    main()
