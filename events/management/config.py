"""The pipeline's configuration read from Django settings (for commands and the Celery worker)."""

from __future__ import annotations

from django.conf import settings
from psycopg.conninfo import make_conninfo

from events.relay import RelayConfig
from events.topology import Topology


def topology_from_settings() -> Topology:
    """The exchange and queue names configured in settings (EVENTS_*)."""
    return Topology(
        exchange=settings.EVENTS_EXCHANGE,
        projections_queue=settings.EVENTS_QUEUE_PROJECTIONS,
        stats_queue=settings.EVENTS_QUEUE_STATS,
        dead_letter_exchange=settings.EVENTS_DEAD_LETTER_EXCHANGE,
        max_deliveries=settings.EVENTS_MAX_DELIVERIES,
    )


def conninfo_from_settings(alias: str = "default") -> str:
    """A libpq connection string for the database Django uses."""
    db = settings.DATABASES[alias]
    return make_conninfo(
        host=str(db["HOST"]),
        port=str(db["PORT"]),
        dbname=str(db["NAME"]),
        user=str(db["USER"]),
        password=str(db["PASSWORD"]) or None,
        application_name="innotter-relay",
    )


def relay_config_from_settings() -> RelayConfig:
    return RelayConfig(
        conninfo=conninfo_from_settings(),
        amqp_url=settings.RABBITMQ_URL,
        topology=topology_from_settings(),
        name=settings.RELAY_NAME,
        batch_size=settings.RELAY_BATCH_SIZE,
        batches_in_flight=settings.RELAY_BATCHES_IN_FLIGHT,
        poll_seconds=settings.RELAY_POLL_SECONDS,
    )


def watched_queues() -> list[str]:
    """The broker queues whose depth the relay exports: the consumers', their dead letters, Celery's."""
    topology = topology_from_settings()
    dead = [topology.dead_letter_queue(queue) for queue in topology.queues]
    return [*topology.queues, *dead, settings.CELERY_TASK_QUEUE]
