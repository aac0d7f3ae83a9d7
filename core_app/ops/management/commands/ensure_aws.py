"""Create the AWS resources the core needs (media bucket, verified SES sender); safe to repeat."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from core_app.ops.services import ensure_aws


class Command(BaseCommand):
    help = "Create the S3 media bucket and verify the SES sender identity (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_aws()
        endpoint = settings.AWS_ENDPOINT_URL or "AWS"
        self.stdout.write(f"bucket {settings.S3_BUCKET} and sender {settings.SES_SENDER} ready on {endpoint}")
