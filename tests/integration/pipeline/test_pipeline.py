"""The event pipeline against the real PostgreSQL and RabbitMQ: relay and Celery worker processes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import signal
import threading

import aio_pika
import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from core_app.pages import follows as follow_services
from core_app.pages import services as page_services
from core_app.posts import services as post_services
from core_app.posts.models import Post
from core_app.testing.factories import PostFactory, UserFactory
from events.append import append_event
from events.contracts import PostLiked
from events.management.config import conninfo_from_settings
from events.models import RelayCursor, StoredEvent
from projections.feed import store
from projections.models import AppliedEvent, EmailDelivery
from tests.integration.pipeline.support import recipient, wait_for

pytestmark = pytest.mark.integration


def mails_to(addresses: set[str]) -> list[str]:
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    return [to for to in map(recipient, sent) if to in addresses]


def audience(followers: int, tag: str):
    owner = UserFactory()
    page = page_services.page_create(owner=owner, name=f"Page {tag}", uuid=f"it-{tag}")
    users = UserFactory.create_batch(followers)
    for user in users:
        follow_services.follow_create(page=page, user=user)
    return page, users


def publish(page, count: int) -> list[int]:
    return [
        post_services.post_create(author=page.owner, page_id=page.pk, content=f"post {i}").pk
        for i in range(count)
    ]


def in_every_feed(post_ids: list[int], users: list) -> bool:
    return all(set(post_ids) <= set(store.feed_of(u.pk)) for u in users)


def feed_entries() -> list[tuple[int, int]]:
    return sorted((user, post) for user, feed in store.all_feeds().items() for post in feed)


def relay_lag(settings, pipeline) -> dict:
    settings.RELAY_NAME = pipeline.relay_name
    out = io.StringIO()
    call_command("relay_status", stdout=out)
    return json.loads(out.getvalue())


def test_a_post_goes_through_relay_and_worker_into_feeds_and_mailboxes(pipeline, ses, client_for) -> None:
    page, users = audience(3, pipeline.suffix)
    pipeline.start_relay()
    pipeline.start_worker()
    [post_id] = publish(page, 1)
    wait_for(lambda: in_every_feed([post_id], [*users, page.owner]), what="fan-out")
    addresses = {u.email for u in users}
    wait_for(lambda: len(mails_to(addresses)) == 3, what="e-mails")
    assert sorted(mails_to(addresses)) == sorted(addresses)
    wait_for(
        lambda: EmailDelivery.objects.filter(post_id=post_id, status="sent").count() == 3, what="marked sent"
    )
    response = client_for(users[0]).get("/api/v1/feed/")
    assert [item["id"] for item in response.json()["results"]] == [post_id]


def test_broker_outage_mid_stream_loses_nothing(pipeline, ses, settings) -> None:
    page, users = audience(4, pipeline.suffix)
    pipeline.start_relay()
    pipeline.start_worker()
    before = publish(page, 10)
    pipeline.proxy.cut()
    during = publish(page, 15)
    lag = wait_for(lambda: (lag := relay_lag(settings, pipeline))["behind"] > 0 and lag, what="lag while cut")
    assert lag["oldest_unpublished_age_seconds"] is not None
    pipeline.proxy.start()
    after = publish(page, 5)
    everything = before + during + after
    wait_for(lambda: in_every_feed(everything, [*users, page.owner]), timeout=120, what="all posts in feeds")
    wait_for(lambda: relay_lag(settings, pipeline)["behind"] == 0, what="relay caught up")
    wait_for(lambda: len(mails_to({u.email for u in users})) == 4 * 30, timeout=120, what="every e-mail")
    assert len(set(mails_to({u.email for u in users}))) == 4
    handled = StoredEvent.objects.filter(type__in=["post.created", "follow.accepted", "page.created"]).count()
    assert AppliedEvent.objects.filter(consumer="feed").count() == handled


def _backend_waiting_on(sql_prefix: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            [f"%{sql_prefix}%"],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_worker_killed_mid_batch_applies_the_effect_exactly_once(pipeline, ses) -> None:
    page, users = audience(5, pipeline.suffix)
    pipeline.start_relay()
    worker = pipeline.start_worker()
    wait_for(lambda: AppliedEvent.objects.filter(consumer="feed").count() >= 6, what="follows applied")
    blocker = psycopg.connect(conninfo_from_settings())
    try:
        # Hold the projection's page row: the consumer writes the owner's feed in Redis, then
        # blocks in its re-check of the page; kill the worker there, mid-transaction.
        blocker.execute("BEGIN")
        blocker.execute("SELECT 1 FROM projections_feedpage WHERE page_id = %s FOR UPDATE", [page.pk])
        [post_id] = publish(page, 1)
        waiting = wait_for(
            lambda: _backend_waiting_on("FROM projections_feedpage"), what="consumer mid-batch"
        )
        worker.kill()
        assert not worker.alive()
        with connection.cursor() as cursor:  # the dead worker's session goes with it
            cursor.execute("SELECT pg_terminate_backend(%s)", [waiting])
    finally:
        blocker.rollback()
        blocker.close()
    assert not AppliedEvent.objects.filter(event_id=_event_id_of(post_id)).exists()
    pipeline.start_worker()
    wait_for(lambda: in_every_feed([post_id], [*users, page.owner]), what="redelivered fan-out")
    wait_for(
        lambda: EmailDelivery.objects.filter(post_id=post_id, status="sent").count() == 5, what="e-mails"
    )
    assert [p for _, p in feed_entries()].count(post_id) == 6
    assert len(mails_to({u.email for u in users})) == 5
    assert AppliedEvent.objects.filter(consumer="feed", event_id=_event_id_of(post_id)).count() == 1


def _event_id_of(post_id: int):
    return StoredEvent.objects.get(type="post.created", aggregate_id=str(post_id)).event_id


def test_the_same_events_delivered_twice_change_nothing(pipeline, ses) -> None:
    page, users = audience(3, pipeline.suffix)
    pipeline.start_relay()
    pipeline.start_worker()
    post_ids = publish(page, 4)
    wait_for(lambda: in_every_feed(post_ids, [*users, page.owner]), what="first delivery")
    wait_for(lambda: len(mails_to({u.email for u in users})) == 12, what="e-mails")
    feed = feed_entries()
    applied = AppliedEvent.objects.count()
    # As if the relay crashed after publishing but before saving its cursor: everything again.
    RelayCursor.objects.filter(name=pipeline.relay_name).update(position=0)
    [sentinel] = publish(page, 1)
    wait_for(lambda: in_every_feed([sentinel], [*users, page.owner]), what="sentinel after the replays")
    wait_for(lambda: len(mails_to({u.email for u in users})) == 15, what="sentinel e-mails")
    assert [entry for entry in feed_entries() if entry[1] != sentinel] == feed
    assert AppliedEvent.objects.count() == applied + 2  # the sentinel's feed and e-mail records only
    assert len(mails_to({u.email for u in users})) == 15


async def _consume(url: str, queue_name: str, count: int, wait: float) -> list[tuple[str, bytes]]:
    """Take `count` messages off a queue (acked), as (message id, body) pairs."""
    connection_ = await aio_pika.connect(url)
    messages_: list[tuple[str, bytes]] = []
    async with connection_:
        channel = await connection_.channel()
        queue = await channel.get_queue(queue_name, ensure=False)
        async with queue.iterator(timeout=wait) as messages:
            async for message in messages:
                async with message.process():
                    messages_.append((str(message.message_id), message.body))
                if len(messages_) == count:
                    break
    return messages_


def _consume_ids(url: str, queue_name: str, count: int, wait: float) -> list[str]:
    return [message_id for message_id, _ in asyncio.run(_consume(url, queue_name, count, wait))]


def _consume_bodies(url: str, queue_name: str, count: int, wait: float) -> list[dict]:
    return [json.loads(body) for _, body in asyncio.run(_consume(url, queue_name, count, wait))]


async def _queued(url: str, queue_name: str) -> int:
    connection_ = await aio_pika.connect(url)
    async with connection_:
        channel = await connection_.channel()
        declared = await channel.declare_queue(queue_name, passive=True)
        return int(declared.declaration_result.message_count or 0)


def _relay_checked_since(moment) -> int:
    """How many times the relay has looked at the appending transactions since `moment`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query_start FROM pg_stat_activity WHERE application_name = 'innotter-relay'"
            " AND datname = current_database() AND query LIKE %s AND query_start > %s",
            ["%FROM pg_locks%", moment],
        )
        return len(cursor.fetchall())


def test_a_transaction_committing_before_an_earlier_one_is_published_after_it(pipeline) -> None:
    pipeline.start_relay()
    t1_appended, t1_release = threading.Event(), threading.Event()
    results: dict[str, StoredEvent] = {}

    def t1() -> None:
        with transaction.atomic():
            results["t1"] = append_event(
                PostLiked(post_id=1, page_id=1, page_owner_id=1, user_id=1), actor_id=1
            )
            t1_appended.set()
            t1_release.wait(30)
        connection.close()

    thread = threading.Thread(target=t1)
    thread.start()
    assert t1_appended.wait(30)
    # No lock: T2 takes the next position and commits while T1 is still open.
    with transaction.atomic():
        results["t2"] = append_event(PostLiked(post_id=2, page_id=1, page_owner_id=1, user_id=2), actor_id=2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        t2_committed = cursor.fetchone()[0]
    assert results["t1"].position < results["t2"].position
    # The relay wakes on T2's commit and keeps looking, but must not publish T2 ahead of T1.
    wait_for(lambda: _relay_checked_since(t2_committed), what="the relay looking after T2's commit")
    assert asyncio.run(_queued(pipeline.direct_url, pipeline.topology.stats_queue)) == 0
    assert RelayCursor.objects.get(name=pipeline.relay_name).position < results["t1"].position
    t1_release.set()
    thread.join(30)
    ids = _consume_ids(pipeline.direct_url, pipeline.topology.stats_queue, 2, wait=30)
    assert ids == [str(results["t1"].event_id), str(results["t2"].event_id)]
    wait_for(
        lambda: RelayCursor.objects.get(name=pipeline.relay_name).position == results["t2"].position,
        what="cursor at T2",
    )


WRITERS, TRANSACTIONS_EACH, AGGREGATES = 16, 25, 4


def _writer(index: int, posts: list, failures: list[BaseException]) -> None:
    """Like posts at random, one per transaction, as the like service does: lock the post, count, append."""
    rng = random.Random(index)
    try:
        for _ in range(TRANSACTIONS_EACH):
            with transaction.atomic():
                if index % 2:  # take a transaction id before waiting for the post's lock
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_current_xact_id()")
                post = Post.objects.select_for_update().get(pk=rng.choice(posts).pk)
                post.likes_count += 1
                post.save(update_fields=["likes_count"])
                payload = PostLiked(
                    post_id=post.pk, page_id=post.page_id, page_owner_id=1, user_id=post.likes_count
                )
                append_event(payload, actor_id=None)
    except BaseException as exc:  # reported by the test, not lost in the thread
        failures.append(exc)
    finally:
        connection.close()


def test_sixteen_concurrent_writers_are_published_exactly_once_in_order_per_aggregate(pipeline) -> None:
    posts = PostFactory.create_batch(AGGREGATES)
    pipeline.start_relay()
    failures: list[BaseException] = []
    threads = [threading.Thread(target=_writer, args=(i, posts, failures)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    total = WRITERS * TRANSACTIONS_EACH
    bodies = _consume_bodies(pipeline.direct_url, pipeline.topology.stats_queue, total, wait=60)
    for thread in threads:
        thread.join(60)
    assert failures == []
    stored = set(StoredEvent.objects.values_list("event_id", flat=True))
    assert len(stored) == total
    assert sorted(b["event_id"] for b in bodies) == sorted(str(e) for e in stored)  # each exactly once
    positions = [b["position"] for b in bodies]
    assert positions == sorted(positions)  # log order
    for post in posts:  # per aggregate, the likes in the order they were counted: 1, 2, 3...
        counts = [b["payload"]["user_id"] for b in bodies if b["aggregate_id"] == str(post.pk)]
        assert counts == list(range(1, Post.objects.get(pk=post.pk).likes_count + 1))
    wait_for(
        lambda: RelayCursor.objects.get(name=pipeline.relay_name).position == max(positions),
        what="cursor at the last event",
    )
    assert asyncio.run(_queued(pipeline.direct_url, pipeline.topology.stats_queue)) == 0  # nothing twice


def test_a_second_relay_waits_instead_of_publishing(pipeline, settings) -> None:
    first = pipeline.start_relay()
    wait_for(lambda: "lock acquired" in first.output(), what="first relay holds the lock")
    second = pipeline.start_relay()
    wait_for(lambda: "another relay holds the lock" in second.output(), what="second relay waiting")
    with transaction.atomic():
        event = append_event(PostLiked(post_id=1, page_id=1, page_owner_id=1, user_id=1), actor_id=1)
    ids = _consume_ids(pipeline.direct_url, pipeline.topology.stats_queue, 1, wait=30)
    assert ids == [str(event.event_id)]
    os.killpg(first.popen.pid, signal.SIGTERM)
    wait_for(lambda: "lock acquired" in second.output(), what="second relay takes over")
    with transaction.atomic():
        later = append_event(PostLiked(post_id=2, page_id=1, page_owner_id=1, user_id=1), actor_id=1)
    ids = _consume_ids(pipeline.direct_url, pipeline.topology.stats_queue, 1, wait=30)
    assert ids == [str(later.event_id)]
