"""The Celery app: `celery -A projections.celery_app worker` / `beat`.

RabbitMQ broker with publisher confirms, JSON only, late acks for the (idempotent) tasks, a
small prefetch, and the raw event consumer (`EventConsumerStep`) inside the worker.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from celery import Celery, bootsteps, signals
from celery.schedules import crontab
from django.conf import settings
from kombu import Consumer, Exchange, Queue

from observability.metrics_setup import prepare_multiprocess


def started_as_worker(argv: list[str]) -> bool:
    """`celery ... worker` (or `python -m celery ... worker`), not beat, a shell or a test run."""
    program = Path(argv[0]) if argv else Path()
    return "celery" in (program.name, program.parent.name) and "worker" in argv[1:]


# The pool's children are forked: their metrics directory is set now, before anything imports
# prometheus-client (the modules below do).
if started_as_worker(sys.argv):
    prepare_multiprocess("worker")

from events.management.config import topology_from_settings  # noqa: E402
from events.topology import declare_topology_sync  # noqa: E402
from observability import celery_signals  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core_app.settings")

# Under load, a batch of events is applied at most this often (projections.consumer.EventBatcher).
EVENT_BATCH_SPACING_SECONDS = 0.05

app = Celery("innotter", include=["projections.tasks", "projections.digests.tasks"])
app.conf.update(
    broker_url=settings.RABBITMQ_URL,
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=settings.CELERY_PREFETCH_MULTIPLIER,
    task_default_queue=settings.CELERY_TASK_QUEUE,
    task_default_exchange=settings.CELERY_TASK_QUEUE,
    task_default_routing_key=settings.CELERY_TASK_QUEUE,
    task_queues=[
        Queue(
            settings.CELERY_TASK_QUEUE,
            Exchange(settings.CELERY_TASK_QUEUE, type="direct", durable=True),
            routing_key=settings.CELERY_TASK_QUEUE,
            durable=True,
        )
    ],
    task_create_missing_queues=False,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    timezone="UTC",
    beat_schedule={
        "unblock-expired-pages": {
            "task": "projections.unblock_expired_pages",
            "schedule": settings.PAGE_UNBLOCK_INTERVAL_SECONDS,
        },
        "digests-hourly": {"task": "projections.digests_tick", "schedule": crontab(minute=0)},
    },
)


class EventConsumerStep(bootsteps.ConsumerStep):
    """Consumes the projections queue inside the worker (declared first, idempotently)."""

    def start(self, c: Any) -> None:
        declare_topology_sync(settings.RABBITMQ_URL, topology_from_settings())
        self.hub = c.hub  # the worker's event loop (None without one): batches are gathered on it
        super().start(c)

    def get_consumers(self, channel: Any) -> list[Consumer]:
        # Imported here: they need the Django app registry, ready only once the worker runs.
        from projections.consumer import EventBatcher
        from projections.tasks import CeleryFeedWork, queue_post_emails

        # Quorum queues take per-consumer prefetch only (global=False).
        channel.basic_qos(prefetch_size=0, prefetch_count=settings.PROJECTIONS_EVENT_PREFETCH, a_global=False)
        queue = Queue(topology_from_settings().projections_queue, no_declare=True)
        hub = getattr(self, "hub", None)
        batcher = EventBatcher(
            CeleryFeedWork(),
            queue_post_emails,
            limit=settings.PROJECTIONS_EVENT_PREFETCH,  # no more are ever unacked at once
            # A timer, not call_soon: the loop polls its sockets before it runs what call_soon
            # added, for up to a second when none has data.
            schedule=None if hub is None else hub.call_later,
            spacing=EVENT_BATCH_SPACING_SECONDS,
        )
        return [Consumer(channel, queues=[queue], on_message=batcher.on_message, accept=["json"])]


app.steps["consumer"].add(EventConsumerStep)
# JSON logs instead of Celery's own format; tasks carry the request id (observability/celery_signals.py)
celery_signals.connect()


@signals.worker_init.connect
def _without_mingle(sender: Any, **kwargs: Any) -> None:
    """Skip the start-up sync with other workers (what `celery worker --without-mingle` does).

    Mingle waits for one second of silence on the worker's connection, which the event consumer
    sharing that connection never gives under load: a worker restarted during a burst of writes
    would stay in mingle and never start consuming its tasks (feed fan-out, e-mail).
    """
    sender.options["without_mingle"] = True


@signals.worker_init.connect
def _serve_metrics(sender: Any, **kwargs: Any) -> None:
    """The main process serves the metrics of the whole worker: its event consumer's and the pool's."""
    from observability.metrics import serve_metrics

    serve_metrics("worker")


@signals.worker_process_shutdown.connect
def _forget_pool_process(pid: int, **kwargs: Any) -> None:
    from observability.metrics import forget_process

    forget_process(pid)
