from __future__ import annotations

import io
import json
import logging
from unittest import mock

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from core_app.pages.models import Follow, FollowStatus
from core_app.testing.factories import FollowFactory, PageFactory, PostFactory, UserFactory
from core_app.users.models import EmailFrequency
from events.contracts import PostCreated
from observability.logs import JsonFormatter
from observability.trace import bound
from projections import notifications
from projections.models import AppliedEvent, EmailDelivery
from projections.tests.conftest import envelope_of

pytestmark = pytest.mark.django_db


def sent_messages(settings) -> list:
    return ses_backends[DEFAULT_ACCOUNT_ID][settings.AWS_REGION].sent_messages


@pytest.fixture
def post():
    page = PageFactory(name="Rust Daily")
    return PostFactory(page=page, content="Borrow checker tips " * 30)


def created(post) -> PostCreated:
    return PostCreated(
        post_id=post.pk,
        page_id=post.page_id,
        page_owner_id=post.page.owner_id,
        page_is_private=False,
        reply_to_id=None,
        reply_to_page_id=None,
    )


def test_recipients_are_accepted_followers_who_want_mail(post) -> None:
    wanted = FollowFactory(page=post.page).follower
    FollowFactory(page=post.page, follower=UserFactory(email_notifications=False))
    FollowFactory(page=post.page, follower=UserFactory(is_blocked=True))
    FollowFactory(page=post.page, status=FollowStatus.PENDING, accepted_at=None)
    FollowFactory(page=post.page, follower=post.page.owner)
    assert notifications.recipients(post.page_id, post.page.owner_id) == [wanted.pk]


def test_recipients_statement_matches_the_orm_rules(post) -> None:
    # The written-once statement against the rules as the ORM states them, over every kind of
    # follower (and a follow of another page, which must not count).
    FollowFactory(page=post.page)
    FollowFactory(page=post.page, follower=UserFactory(email_notifications=False))
    FollowFactory(page=post.page, follower=UserFactory(is_blocked=True))
    FollowFactory(page=post.page, follower=UserFactory(email_frequency="daily"))
    FollowFactory(page=post.page, status=FollowStatus.PENDING, accepted_at=None)
    FollowFactory(page=post.page, follower=post.page.owner)
    FollowFactory(page=PageFactory())
    FollowFactory(page=post.page)
    expected = Follow.objects.filter(
        page_id=post.page_id,
        status=FollowStatus.ACCEPTED,
        follower__is_blocked=False,
        follower__email_notifications=True,
        follower__email_frequency=EmailFrequency.INSTANT,
    ).exclude(follower_id=post.page.owner_id)
    wanted = sorted(expected.values_list("follower_id", flat=True))
    assert len(wanted) == 2
    assert notifications.recipients(post.page_id, post.page.owner_id) == wanted


def test_planning_the_same_event_twice_queues_batches_once(post, settings) -> None:
    settings.EMAIL_BATCH_SIZE = 2
    followers = sorted(FollowFactory(page=post.page).follower.pk for _ in range(3))
    send_batch = mock.Mock()
    envelope = envelope_of(created(post))
    assert notifications.on_post_created(created(post), envelope, send_batch) is True
    assert notifications.on_post_created(created(post), envelope, send_batch) is False
    assert [c.args for c in send_batch.call_args_list] == [(post.pk, followers[:2]), (post.pk, followers[2:])]
    assert AppliedEvent.objects.filter(consumer="email").count() == 1


def test_each_follower_gets_one_email_even_when_the_batch_runs_twice(post, ses, settings) -> None:
    users = [FollowFactory(page=post.page).follower for _ in range(2)]
    ids = [u.pk for u in users]
    assert notifications.send_post_notifications(post.pk, ids, client=ses) == []
    assert notifications.send_post_notifications(post.pk, ids, client=ses) == []
    messages = sent_messages(settings)
    assert sorted(m.destinations["ToAddresses"][0] for m in messages) == sorted(u.email for u in users)
    assert set(EmailDelivery.objects.values_list("status", flat=True)) == {"sent"}
    message = messages[0]
    assert message.subject == "New post on Rust Daily"
    assert "Rust Daily" in message.body and f"/posts/{post.pk}" in message.body


def test_each_sent_email_is_logged_with_the_request_id_and_the_ses_message_id(post, ses, settings) -> None:
    """The task runs with the request id of the post bound; its lines are formatted as it logs them."""
    user = FollowFactory(page=post.page).follower
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("projections.notifications")
    logger.addHandler(handler)
    try:
        with bound("req-mail"):
            notifications.send_post_notifications(post.pk, [user.pk], client=ses)
            notifications.send_post_notifications(post.pk, [user.pk], client=ses)  # claimed: no second line
    finally:
        logger.removeHandler(handler)
    [line] = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    [message] = sent_messages(settings)
    assert line["message"] == f"e-mail of post {post.pk} sent to user {user.pk}"
    assert (line["request_id"], line["ses_message_id"], line["post_id"], line["user_id"]) == (
        "req-mail",
        message.id,
        post.pk,
        user.pk,
    )
    assert EmailDelivery.objects.get(user_id=user.pk).message_id == message.id


def test_compose_has_text_html_excerpt_and_link(post, settings) -> None:
    settings.APP_BASE_URL = "https://innotter.example/"
    note = notifications.compose(post, UserFactory(first_name="Ada"))
    assert note.subject == "New post on Rust Daily"
    assert "Hi Ada," in note.text and "https://innotter.example/posts/" in note.text
    assert note.text.count("Borrow") < 30 and "…" in note.text
    assert "<strong>Rust Daily</strong>" in note.html and 'href="https://innotter.example/posts/' in note.html


def test_html_is_escaped(settings) -> None:
    post = PostFactory(page=PageFactory(name="<b>x</b>"), content="<script>alert(1)</script>")
    note = notifications.compose(post, UserFactory())
    assert "<script>" not in note.html and "&lt;script&gt;" in note.html


def test_no_connection_releases_the_claim_for_a_retry(post) -> None:
    user = FollowFactory(page=post.page).follower
    client = mock.Mock()
    client.send_email.side_effect = EndpointConnectionError(endpoint_url="http://ses")
    assert notifications.send_post_notifications(post.pk, [user.pk], client=client) == [user.pk]
    assert not EmailDelivery.objects.exists()


def test_a_rejected_send_is_not_retried(post) -> None:
    user = FollowFactory(page=post.page).follower
    client = mock.Mock()
    client.send_email.side_effect = ClientError({"Error": {"Code": "MessageRejected"}}, "SendEmail")
    assert notifications.send_post_notifications(post.pk, [user.pk], client=client) == []
    assert notifications.send_post_notifications(post.pk, [user.pk], client=client) == []
    assert client.send_email.call_count == 1
    assert EmailDelivery.objects.get().status == "failed"


def test_deleted_post_or_opted_out_user_gets_nothing(post) -> None:
    opted_out = FollowFactory(page=post.page, follower=UserFactory(email_notifications=False)).follower
    client = mock.Mock()
    assert notifications.send_post_notifications(post.pk, [opted_out.pk], client=client) == []
    post_id = post.pk
    post.delete()
    follower = FollowFactory(page=PageFactory()).follower
    assert notifications.send_post_notifications(post_id, [follower.pk], client=client) == []
    client.send_email.assert_not_called()


def test_users_in_a_digest_mode_get_no_per_post_email(post, ses, settings) -> None:
    daily = FollowFactory(page=post.page, follower=UserFactory(email_frequency="daily")).follower
    weekly = FollowFactory(page=post.page, follower=UserFactory(email_frequency="weekly")).follower
    instant = FollowFactory(page=post.page).follower
    assert notifications.recipients(post.page_id, post.page.owner_id) == [instant.pk]
    notifications.send_post_notifications(post.pk, [daily.pk, weekly.pk, instant.pk])
    assert [m.destinations["ToAddresses"] for m in sent_messages(settings)] == [[instant.email]]
