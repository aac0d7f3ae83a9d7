"""Sending digests: each (user, slot) claimed before the send, paced to SES's sending rate.

At most once, as for the per-post e-mails (projections/notifications.py): the claim row is
committed before SES is called, so a retry, a redelivered batch, a second beat or a worker
killed after the claim never sends that digest again; only a send that certainly never reached
SES (no connection) gives its claim back and is retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core_app.users.models import User
from observability.metrics import EMAIL_FAILURES, EMAILS_SENT
from projections.digests.builder import Digest, build_digests
from projections.digests.message import compose_digest
from projections.digests.models import DigestDelivery
from projections.digests.periods import Period, period_starts, recipients_q
from projections.notifications import SendNotPossibleError, ses_client

logger = logging.getLogger(__name__)

CLAIM_SQL = """
    INSERT INTO digests_digestdelivery
        (user_id, slot, period, period_start, period_end, posts, status, message_id, claimed_at)
    VALUES (%s, %s, %s, %s, %s, %s, 'claimed', '', now())
    ON CONFLICT DO NOTHING
"""
QUOTA_TTL_SECONDS = 600
EMAIL_KIND = "digest"  # the `kind` label of the e-mail metrics


class SendRate:
    """Paces sends to `per_second` (a steady interval, no bursts)."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second
        self.clock, self.sleep = clock, sleep
        self.next_at = clock()

    def wait(self) -> None:
        now = self.clock()
        if self.next_at > now:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


def ses_rate(client: Any) -> float:
    """This process's share of SES's MaxSendRate (DIGEST_MAX_SEND_RATE overrides it when set)."""
    if settings.DIGEST_MAX_SEND_RATE > 0:
        return float(settings.DIGEST_MAX_SEND_RATE)
    quota = client.get_send_quota()
    return float(quota["MaxSendRate"]) / max(1, settings.DIGEST_SENDER_PROCESSES)


_limiter: tuple[float, SendRate] | None = None


def process_limiter(client: Any) -> SendRate:
    """One pacer per process (consecutive batches share it); the quota is re-read every 10 min."""
    global _limiter
    if _limiter is None or time.monotonic() - _limiter[0] > QUOTA_TTL_SECONDS:
        _limiter = (time.monotonic(), SendRate(ses_rate(client)))
    return _limiter[1]


def claim(digest: Digest, period: Period, slot: datetime) -> bool:
    """Claim the (user, slot) digest in its own committed transaction; False if already claimed."""
    params: list[Any] = [
        digest.user_id,
        slot,
        period,
        digest.period_start,
        digest.period_end,
        len(digest.post_ids),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, params)
        return cursor.rowcount == 1


def send_raw(client: Any, raw: bytes) -> str:
    """Send one raw MIME message; returns the SES message id."""
    try:
        # The recipient is the message's To header (Destinations would be added to it).
        response = client.send_raw_email(Source=settings.SES_SENDER, RawMessage={"Data": raw})
    except EndpointConnectionError as exc:
        raise SendNotPossibleError(str(exc)) from exc
    return str(response["MessageId"])


def _mark(user_id: int, slot: datetime, status: str, message_id: str = "") -> None:
    DigestDelivery.objects.filter(user_id=user_id, slot=slot).update(
        status=status, message_id=message_id, sent_at=timezone.now()
    )


def _send_one(
    client: Any, limiter: SendRate, user: User, digest: Digest, period: Period, slot: datetime
) -> bool:
    """Claim and send one digest; False when it must be retried (SES was never reached)."""
    raw = compose_digest(user, digest, period)
    limiter.wait()
    if not claim(digest, period, slot):
        return True
    try:
        message_id = send_raw(client, raw)
    except SendNotPossibleError:
        DigestDelivery.objects.filter(user_id=user.pk, slot=slot).delete()
        EMAIL_FAILURES.labels(EMAIL_KIND).inc()
        return False
    except (ClientError, BotoCoreError) as exc:
        logger.warning("digest of user %s (slot %s) failed: %s", user.pk, slot, exc)
        _mark(user.pk, slot, DigestDelivery.Status.FAILED)
        EMAIL_FAILURES.labels(EMAIL_KIND).inc()
        return True
    _mark(user.pk, slot, DigestDelivery.Status.SENT, message_id)
    logger.info(
        "%s digest sent to user %s",
        period,
        user.pk,
        extra={"user_id": user.pk, "ses_message_id": message_id, "slot": slot.isoformat()},
    )
    EMAILS_SENT.labels(EMAIL_KIND).inc()
    return True


def send_digest_batch(
    period: Period,
    slot: datetime,
    until: datetime,
    user_ids: Sequence[int],
    *,
    client: Any | None = None,
    limiter: SendRate | None = None,
) -> list[int]:
    """Build and send the digests of a batch, at most once each; returns the users to retry."""
    users = {u.pk: u for u in User.objects.filter(recipients_q(period), pk__in=list(user_ids))}
    digests = build_digests(period_starts(sorted(users), period, slot, until), until)
    client = client or ses_client()
    limiter = limiter or process_limiter(client)
    retry: list[int] = []
    for user_id, digest in sorted(digests.items()):
        if not digest.is_empty and not _send_one(client, limiter, users[user_id], digest, period, slot):
            retry.append(user_id)
    return retry
