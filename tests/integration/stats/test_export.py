"""`manage.py export_event_log`: the whole log, in order, one envelope a line."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from core_app.pages.services import page_create
from core_app.posts.services import post_create
from events.contracts import EventEnvelope

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
