"""`manage.py export_event_log`: the whole log, in order, one envelope a line."""

from __future__ import annotations

import io
import threading

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from core_app.pages.services import page_create
from core_app.posts.services import post_create
from events.contracts import EventEnvelope
from events.management.config import conninfo_from_settings
from tests.integration.pipeline.support import wait_for

pytestmark = pytest.mark.django_db


def test_exports_every_event_in_log_order(user, tmp_path):
    page = page_create(owner=user, name="Mine", uuid="export-me")
    post_create(author=user, page_id=page.pk, content="one")
    target = tmp_path / "events.ndjson"
    err = io.StringIO()
    call_command("export_event_log", output=str(target), stderr=err)
    envelopes = [EventEnvelope.model_validate_json(line) for line in target.read_text().splitlines()]
    assert [e.type for e in envelopes][-2:] == ["page.created", "post.created"]
    assert [e.position for e in envelopes] == sorted(e.position for e in envelopes)
    assert envelopes[-1].payload["page_id"] == page.pk
    assert f"exported {len(envelopes)} events" in err.getvalue()


def test_after_skips_what_was_already_exported(user):
    page_create(owner=user, name="A", uuid="export-a")
    first = io.StringIO()
    call_command("export_event_log", stdout=first, stderr=io.StringIO())
    last = EventEnvelope.model_validate_json(first.getvalue().splitlines()[-1]).position
    page_create(owner=user, name="B", uuid="export-b")
    rest = io.StringIO()
    call_command("export_event_log", after=last, stdout=rest, stderr=io.StringIO())
    (line,) = rest.getvalue().splitlines()
    assert EventEnvelope.model_validate_json(line).payload["uuid"] == "export-b"


def _export_polling() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND query LIKE %s AND pid <> pg_backend_pid()",
            ["%FROM pg_locks%"],
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_waits_for_a_lower_position_still_uncommitted(user):
    earlier = psycopg.connect(conninfo_from_settings())
    try:
        held = earlier.execute(
            "INSERT INTO event_log (event_id, type, version, aggregate_type, aggregate_id, payload,"
            " occurred_at, is_moderation) VALUES (gen_random_uuid(), 'post.liked', 1, 'post', '1',"
            ' \'{"post_id": 1, "page_id": 1, "page_owner_id": 1, "user_id": 1}\', now(), false)'
            " RETURNING position"
        ).fetchone()[0]
        page = page_create(owner=user, name="Later", uuid="export-later")  # commits past the open one
        out = io.StringIO()

        def export() -> None:
            call_command("export_event_log", stdout=out, stderr=io.StringIO())
            connection.close()

        thread = threading.Thread(target=export)
        thread.start()
        wait_for(_export_polling, what="the export waiting for the open transaction")
        assert thread.is_alive()
        earlier.commit()
    finally:
        earlier.close()
    thread.join(30)
    envelopes = [EventEnvelope.model_validate_json(line) for line in out.getvalue().splitlines()]
    assert envelopes[0].position == held  # not skipped: the export waited for it
    assert envelopes[-1].payload["page_id"] == page.pk
