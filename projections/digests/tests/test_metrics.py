"""Digest e-mails sent and failed move `innotter_emails_sent_total` / `innotter_email_failures_total`."""

from __future__ import annotations

from unittest import mock

import pytest
from botocore.exceptions import ClientError

from observability.testing import local
from projections.digests.tests.test_sender import daily_reader, run  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_a_sent_digest_is_counted(daily_reader, ses) -> None:  # noqa: F811
    before = local("innotter_emails_sent_total", kind="digest")
    run([daily_reader.pk], ses)
    run([daily_reader.pk], ses)  # claimed already: not sent, not counted
    assert local("innotter_emails_sent_total", kind="digest") == before + 1


def test_a_refused_digest_is_counted_as_a_failure(daily_reader) -> None:  # noqa: F811
    before = local("innotter_email_failures_total", kind="digest")
    client = mock.Mock()
    client.send_raw_email.side_effect = ClientError({"Error": {"Code": "MessageRejected"}}, "SendRawEmail")
    run([daily_reader.pk], client)
    assert local("innotter_email_failures_total", kind="digest") == before + 1
