"""Fixtures of the projections' tests (the feed, e-mail and digest tests alike)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws


@pytest.fixture
def ses(settings: Any) -> Iterator[Any]:
    """SES in moto's in-process mock, the sender verified; what is sent stays in its backend."""
    settings.AWS_ENDPOINT_URL = None
    with mock_aws():
        client = boto3.client("ses", region_name=settings.AWS_REGION)
        client.verify_email_identity(EmailAddress=settings.SES_SENDER)
        yield client
