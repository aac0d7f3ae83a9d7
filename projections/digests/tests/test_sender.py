"""Sending digests: claims, retries, the SES rate, the MIME message (moto's SES in-process)."""

from __future__ import annotations

import email
import uuid
from datetime import timedelta
from email.policy import default
from unittest import mock

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.utils import timezone
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from core_app.testing.factories import FollowFactory, PageFactory, PostFactory, UserFactory
from core_app.users.models import EmailFrequency
from projections.digests import sender
from projections.digests.models import DigestDelivery
from projections.digests.periods import slot_of
from projections.digests.sender import SendRate, send_digest_batch

pytestmark = pytest.mark.django_db


class NoWait:
    def wait(self) -> None:
        pass


def sent(settings) -> list:
    return ses_backends[DEFAULT_ACCOUNT_ID][settings.AWS_REGION].sent_messages


@pytest.fixture
def daily_reader():
    user = UserFactory(email_frequency=EmailFrequency.DAILY, first_name="<Ann>")
    page = PageFactory(name="Tom & Jerry <b>")
    FollowFactory(follower=user, page=page)
    PostFactory(page=page, content="<script>alert(1)</script> cheese")
    return user


def run(user_ids, client, **kwargs):
    until = timezone.now()
    return send_digest_batch(
        "daily", slot_of(until), until, user_ids, client=client, limiter=NoWait(), **kwargs
    )


def test_a_digest_is_sent_once_even_when_the_batch_runs_twice(daily_reader, ses, settings) -> None:
    assert run([daily_reader.pk], ses) == []
    assert run([daily_reader.pk], ses) == []
    assert len(sent(settings)) == 1
    delivery = DigestDelivery.objects.get(user_id=daily_reader.pk)
    assert delivery.status == "sent" and delivery.posts == 1 and delivery.message_id


def test_the_message_is_mime_with_escaped_html_text_and_one_click_unsubscribe(
    daily_reader, ses, settings
) -> None:
    run([daily_reader.pk], ses)
    message = email.message_from_bytes(sent(settings)[0].raw_data.encode(), policy=default)
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{settings.APP_BASE_URL}/api/v1/digests/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Tom & Jerry <b>: <script>alert(1)</script> cheese" in text
    assert "Tom &amp; Jerry &lt;b&gt;" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert "Hi &lt;Ann&gt;," in html
    assert unsubscribe.strip("<>") in text and unsubscribe.strip("<>") in html
    assert "/posts/" in text


def test_nothing_new_sends_nothing_and_claims_nothing(ses, settings) -> None:
    user = UserFactory(email_frequency=EmailFrequency.DAILY)
    FollowFactory(follower=user)
    assert run([user.pk], ses) == []
    assert sent(settings) == [] and not DigestDelivery.objects.exists()


def test_the_next_digest_starts_where_the_last_ended(daily_reader, ses, settings) -> None:
    first_until = timezone.now()
    send_digest_batch(
        "daily", slot_of(first_until), first_until, [daily_reader.pk], client=ses, limiter=NoWait()
    )
    later = first_until + timedelta(hours=2)
    send_digest_batch("daily", slot_of(later), later, [daily_reader.pk], client=ses, limiter=NoWait())
    assert len(sent(settings)) == 1  # no new post since the first digest


def test_users_not_in_the_mode_or_opted_out_or_inactive_get_nothing(daily_reader, ses, settings) -> None:
    weekly = UserFactory(email_frequency=EmailFrequency.WEEKLY)
    off = UserFactory(email_frequency=EmailFrequency.DAILY, email_notifications=False)
    month_ago = timezone.now() - timedelta(days=31)
    gone = UserFactory(email_frequency=EmailFrequency.DAILY, last_login=month_ago, date_joined=month_ago)
    page = daily_reader.follows.get().page
    for user in (weekly, off, gone):
        FollowFactory(follower=user, page=page)
    run([weekly.pk, off.pk, gone.pk], ses)
    assert sent(settings) == []


def test_a_user_signed_in_by_refreshing_alone_is_active(daily_reader, ses, settings) -> None:
    from core_app.users.models import RefreshSession

    month_ago = timezone.now() - timedelta(days=40)
    type(daily_reader).objects.filter(pk=daily_reader.pk).update(last_login=month_ago, date_joined=month_ago)
    run([daily_reader.pk], ses)
    assert sent(settings) == []
    RefreshSession.objects.create(user=daily_reader, family=uuid.uuid4(), expires_at=timezone.now())
    later = timezone.now() + timedelta(hours=1)
    send_digest_batch("daily", slot_of(later), later, [daily_reader.pk], client=ses, limiter=NoWait())
    assert len(sent(settings)) == 1


def test_no_connection_gives_the_claim_back_for_a_retry(daily_reader) -> None:
    client = mock.Mock()
    client.send_raw_email.side_effect = EndpointConnectionError(endpoint_url="http://ses")
    assert run([daily_reader.pk], client) == [daily_reader.pk]
    assert not DigestDelivery.objects.exists()


def test_a_rejected_send_is_marked_failed_and_not_retried(daily_reader) -> None:
    client = mock.Mock()
    client.send_raw_email.side_effect = ClientError({"Error": {"Code": "MessageRejected"}}, "SendRawEmail")
    assert run([daily_reader.pk], client) == []
    assert DigestDelivery.objects.get(user_id=daily_reader.pk).status == "failed"


def test_send_rate_paces_to_the_interval() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    rate = SendRate(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        rate.wait()
    assert slept == [0.25, 0.25, 0.25, 0.25]


def test_the_rate_is_read_from_ses_and_shared_by_the_sender_processes(ses, settings) -> None:
    settings.DIGEST_MAX_SEND_RATE = 0
    settings.DIGEST_SENDER_PROCESSES = 4
    assert sender.ses_rate(ses) == 0.25  # moto's sandbox quota: MaxSendRate 1
    settings.DIGEST_MAX_SEND_RATE = 50
    assert sender.ses_rate(ses) == 50


def test_a_feed_rebuild_keeps_the_claims_so_nothing_is_sent_again(daily_reader, ses, settings) -> None:
    from projections.feed.rebuild import rebuild_feed

    until = timezone.now()
    send_digest_batch("daily", slot_of(until), until, [daily_reader.pk], client=ses, limiter=NoWait())
    rebuild_feed()
    send_digest_batch("daily", slot_of(until), until, [daily_reader.pk], client=ses, limiter=NoWait())
    assert len(sent(settings)) == 1
    assert DigestDelivery.objects.get(user_id=daily_reader.pk).status == "sent"


def test_the_link_in_the_message_unsubscribes_with_one_post(daily_reader, ses, settings, api_client) -> None:
    run([daily_reader.pk], ses)
    message = email.message_from_bytes(sent(settings)[0].raw_data.encode(), policy=default)
    path = message["List-Unsubscribe"].strip("<>").removeprefix(settings.APP_BASE_URL)
    response = api_client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    daily_reader.refresh_from_db()
    assert daily_reader.email_notifications is False
