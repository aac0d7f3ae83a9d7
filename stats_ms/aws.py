"""The one place that opens DynamoDB: endpoint, region and credentials from the settings."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import aioboto3
from botocore.config import Config

from stats_ms.settings import Settings

_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"max_attempts": 3, "mode": "standard"},
    max_pool_connections=32,  # above the repository's parallel writes plus the API's reads
)


def dynamodb_resource(settings: Settings) -> AbstractAsyncContextManager[Any]:
    """An aioboto3 DynamoDB resource (an async context manager), opened once per process."""
    session = aioboto3.Session(
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        region_name=settings.aws_region,
    )
    resource: AbstractAsyncContextManager[Any] = session.resource(
        "dynamodb", endpoint_url=settings.aws_endpoint_url, config=_CONFIG
    )
    return resource
