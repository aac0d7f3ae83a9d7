"""E-mail notifications of new posts, sent through SES, at most once per (post, follower).

At most once, not exactly once: SES cannot tell us whether a timed-out request was sent, so
each (post, follower) pair is *claimed* by inserting an EmailDelivery row and committing it
before the send. A redelivered event or a retried task finds the claim and skips; a worker
that dies between claim and send loses that one e-mail rather than sending it twice. Only a
send that certainly never reached SES (no connection) gives its claim back for a retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core_app.pages.models import FollowStatus
from core_app.pages.visibility import blocked_page_q
from core_app.posts.models import Post
from core_app.users.models import EmailFrequency, User
from events.consumer import chunked
from events.contracts import EventEnvelope, PostCreated
from observability.metrics import EMAIL_FAILURES, EMAILS_SENT
from projections.models import EmailDelivery
from projections.tracking import apply_once

logger = logging.getLogger(__name__)

CONSUMER = "email"
EMAIL_KIND = "post"  # the `kind` label of the e-mail metrics
EXCERPT_LENGTH = 200
CLAIM_SQL = """
    INSERT INTO projections_emaildelivery (post_id, user_id, status, message_id, claimed_at)
    VALUES (%s, %s, 'claimed', '', now())
    ON CONFLICT DO NOTHING
"""
# `recipients` written once: the ORM built and compiled this join for every post (~1 ms of the
# worker's CPU per post, bench/writes/RESULTS.md), even for a page without followers.
RECIPIENTS_SQL = """
    SELECT ARRAY(
        SELECT follow.follower_id FROM pages_follow AS follow
        JOIN users_user AS follower ON follower.id = follow.follower_id
        WHERE follow.page_id = %(page_id)s AND follow.status = %(accepted)s
          AND follow.follower_id <> %(owner_id)s AND NOT follower.is_blocked
          AND follower.email_notifications AND follower.email_frequency = %(instant)s
        ORDER BY follow.follower_id)
"""


@dataclass(frozen=True)
class Notification:
    subject: str
    text: str
    html: str


class SendNotPossibleError(Exception):
    """The send never reached SES (e.g. no connection): safe to retry."""


def recipients(page_id: int, owner_id: int) -> list[int]:
    """Accepted followers who want e-mail, minus the owner and blocked users, sorted."""
    params: dict[str, int | str] = {
        "page_id": page_id,
        "owner_id": owner_id,
        "accepted": FollowStatus.ACCEPTED.value,
        "instant": EmailFrequency.INSTANT.value,  # daily/weekly: in the digest instead
    }
    with connection.cursor() as cursor:
        cursor.execute(RECIPIENTS_SQL, params)
        return list(cursor.fetchone()[0])


def post_created_effect(event: PostCreated, send_batch: Any) -> Callable[[], None]:
    """The e-mail planning of a new post, to apply once: one `send_batch(post_id, user_ids)` per batch."""

    def plan() -> None:
        users = recipients(event.page_id, event.page_owner_id)
        for batch in chunked(users, settings.EMAIL_BATCH_SIZE):
            send_batch(event.post_id, batch)

    return plan


def on_post_created(event: PostCreated, envelope: EventEnvelope, send_batch: Any) -> bool:
    """Plan the e-mails of a new post once."""
    return apply_once(CONSUMER, envelope, post_created_effect(event, send_batch))


def excerpt(content: str, length: int = EXCERPT_LENGTH) -> str:
    content = " ".join(content.split())
    return content if len(content) <= length else content[: length - 1].rstrip() + "…"


def compose(post: Post, user: User) -> Notification:
    """Subject, text and HTML body: page name, an excerpt and a link to the post."""
    page_name = post.page.name
    link = f"{settings.APP_BASE_URL.rstrip('/')}/posts/{post.pk}"
    text_excerpt = excerpt(post.content)
    greeting = f"Hi {user.first_name or user.username},"
    text = f"{greeting}\n\n{page_name} posted:\n\n{text_excerpt}\n\nRead it: {link}\n"
    html = (
        f"<p>{escape(greeting)}</p><p><strong>{escape(page_name)}</strong> posted:</p>"
        f"<blockquote>{escape(text_excerpt)}</blockquote>"
        f'<p><a href="{escape(link)}">Read it on Innotter</a></p>'
    )
    return Notification(subject=f"New post on {page_name}", text=text, html=html)


def ses_client() -> Any:
    return boto3.client("ses", endpoint_url=settings.AWS_ENDPOINT_URL, region_name=settings.AWS_REGION)


def send_via_ses(client: Any, address: str, note: Notification) -> str:
    """Send one e-mail; returns the SES message id."""
    try:
        response = client.send_email(
            Source=settings.SES_SENDER,
            Destination={"ToAddresses": [address]},
            Message={
                "Subject": {"Data": note.subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": note.text, "Charset": "UTF-8"},
                    "Html": {"Data": note.html, "Charset": "UTF-8"},
                },
            },
        )
    except EndpointConnectionError as exc:
        raise SendNotPossibleError(str(exc)) from exc
    return str(response["MessageId"])


def claim(post_id: int, user_id: int) -> bool:
    """Claim the (post, user) e-mail in its own committed transaction; False if already claimed."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, [post_id, user_id])
        return cursor.rowcount == 1


def _sendable_post(post_id: int) -> Post | None:
    """The post, unless it was deleted or its page is blocked by now."""
    return Post.objects.select_related("page").exclude(blocked_page_q("page__")).filter(pk=post_id).first()


def send_post_notifications(post_id: int, user_ids: Sequence[int], client: Any | None = None) -> list[int]:
    """Send the post's e-mail to each user not yet claimed; returns users to retry later."""
    post = _sendable_post(post_id)
    if post is None:
        return []
    client = client or ses_client()
    users = User.objects.filter(
        pk__in=user_ids, is_blocked=False, email_notifications=True, email_frequency=EmailFrequency.INSTANT
    )
    retry: list[int] = []
    for user in users.order_by("pk"):
        if not claim(post_id, user.pk):
            continue
        try:
            message_id = send_via_ses(client, user.email, compose(post, user))
        except SendNotPossibleError:
            EmailDelivery.objects.filter(post_id=post_id, user_id=user.pk).delete()
            EMAIL_FAILURES.labels(EMAIL_KIND).inc()
            retry.append(user.pk)
            continue
        except (ClientError, BotoCoreError) as exc:
            logger.warning("e-mail of post %s to user %s failed: %s", post_id, user.pk, exc)
            _mark(post_id, user.pk, EmailDelivery.Status.FAILED, "")
            EMAIL_FAILURES.labels(EMAIL_KIND).inc()
            continue
        _mark(post_id, user.pk, EmailDelivery.Status.SENT, message_id)
        logger.info(
            "e-mail of post %s sent to user %s",
            post_id,
            user.pk,
            extra={"post_id": post_id, "user_id": user.pk, "ses_message_id": message_id},
        )
        EMAILS_SENT.labels(EMAIL_KIND).inc()
    return retry


def _mark(post_id: int, user_id: int, status: str, message_id: str) -> None:
    EmailDelivery.objects.filter(post_id=post_id, user_id=user_id).update(
        status=status, message_id=message_id, sent_at=timezone.now()
    )
