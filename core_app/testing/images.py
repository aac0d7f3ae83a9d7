"""Test helpers for uploads: real image bytes and an emulated S3 bucket (moto)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from moto import mock_aws
from PIL import Image

from core_app.common.uploads import ensure_bucket, s3_client

PILLOW_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}


def image_bytes(ext: str = "png", size: tuple[int, int] = (4, 4)) -> bytes:
    """A small valid image of the type `ext` names."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=PILLOW_FORMATS[ext])
    return buffer.getvalue()


def image_upload(name: str = "a.png", content: bytes | None = None) -> SimpleUploadedFile:
    """An uploaded file named `name` holding `content` (default: a valid image of its extension)."""
    ext = name.rpartition(".")[2].lower()
    data = content if content is not None else image_bytes(ext)
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@contextmanager
def emulated_s3() -> Iterator[Any]:
    """moto's in-process S3 with the media bucket created; yields the boto3 client."""
    s3_client.cache_clear()
    # moto intercepts AWS's own endpoints only, so drop any local endpoint for the duration.
    with override_settings(AWS_ENDPOINT_URL=None, S3_PUBLIC_BASE_URL=""), mock_aws():
        ensure_bucket()
        try:
            yield s3_client()
        finally:
            s3_client.cache_clear()


def stored_object(client: Any, key: str) -> tuple[bytes, str]:
    """The body and content type of an object in the media bucket."""
    obj = client.get_object(Bucket=settings.S3_BUCKET, Key=key)
    return obj["Body"].read(), obj["ContentType"]
