"""Image uploads to S3: validation (allow-listed type, real bytes, size cap), storage and URLs.

The client talks to AWS only through `settings.AWS_ENDPOINT_URL` (moto's server locally).
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache, partial
from typing import IO, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from PIL import Image

from core_app.common.exceptions import (
    FileTooLarge,
    InvalidFile,
    ServiceUnavailable,
    UnsupportedMediaType,
)

logger = logging.getLogger(__name__)


class ImageKind(enum.Enum):
    """An accepted image type: (file extension, content type, Pillow format)."""

    PNG = ("png", "image/png", "PNG")
    JPEG = ("jpg", "image/jpeg", "JPEG")
    GIF = ("gif", "image/gif", "GIF")
    WEBP = ("webp", "image/webp", "WEBP")

    @property
    def extension(self) -> str:
        return self.value[0]

    @property
    def content_type(self) -> str:
        return self.value[1]

    @property
    def pillow_format(self) -> str:
        return self.value[2]


EXTENSIONS: dict[str, ImageKind] = {
    "png": ImageKind.PNG,
    "jpg": ImageKind.JPEG,
    "jpeg": ImageKind.JPEG,
    "gif": ImageKind.GIF,
    "webp": ImageKind.WEBP,
}


def _magic_matches(kind: ImageKind, head: bytes) -> bool:
    if kind is ImageKind.PNG:
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if kind is ImageKind.JPEG:
        return head.startswith(b"\xff\xd8\xff")
    if kind is ImageKind.GIF:
        return head[:6] in (b"GIF87a", b"GIF89a")
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _extension(name: str | None) -> str:
    _, dot, ext = (name or "").rpartition(".")
    return ext.lower() if dot else ""


def _pillow_format(file: IO[bytes]) -> str | None:
    """The format Pillow reads from the bytes after a full structural check, or None."""
    file.seek(0)
    try:
        with Image.open(file) as image:
            fmt = image.format
            image.verify()
    # Pillow signals broken or hostile files with many exception types (decompression bombs included).
    except Exception:
        return None
    finally:
        file.seek(0)
    return fmt


def validate_image(upload: UploadedFile) -> ImageKind:
    """Check size (413), extension (415), then that the bytes really are that image type (400)."""
    size = upload.size or 0
    if size > settings.UPLOAD_MAX_BYTES:
        raise FileTooLarge(details={"max_bytes": settings.UPLOAD_MAX_BYTES, "size": size})
    kind = EXTENSIONS.get(_extension(upload.name))
    if kind is None:
        raise UnsupportedMediaType(
            "Only png, jpg/jpeg, gif and webp images are accepted.",
            details={"allowed": sorted(EXTENSIONS)},
        )
    upload.seek(0)
    head = upload.read(16)
    if size == 0 or not _magic_matches(kind, head) or _pillow_format(upload) != kind.pillow_format:
        raise InvalidFile(f"The file is not a valid {kind.extension} image.")
    upload.seek(0)
    return kind


@lru_cache(maxsize=1)
def s3_client() -> Any:
    """One boto3 S3 client per process (clients are thread-safe)."""
    return boto3.client("s3", endpoint_url=settings.AWS_ENDPOINT_URL, region_name=settings.AWS_REGION)


def store_image(upload: UploadedFile, *, prefix: str) -> str:
    """Validate the upload, put it in the bucket under `prefix`, and return its object key."""
    kind = validate_image(upload)
    key = f"{prefix.strip('/')}/{uuid.uuid4().hex}.{kind.extension}"
    try:
        s3_client().put_object(
            Bucket=settings.S3_BUCKET, Key=key, Body=upload.read(), ContentType=kind.content_type
        )
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("The file store is unavailable.") from exc
    return key


def delete_image(key: str) -> None:
    """Remove a stored object; a failure only orphans it, so it is logged, not raised."""
    try:
        s3_client().delete_object(Bucket=settings.S3_BUCKET, Key=key)
    except (BotoCoreError, ClientError):
        logger.warning("could not delete %s from the file store; it stays orphaned", key)


@contextmanager
def image_replacement(upload: UploadedFile, *, prefix: str, old_key: str) -> Iterator[str]:
    """Store a new image for the caller's transaction to point at, and keep the bucket clean.

    If the block raises, the new object is deleted again; once the transaction commits, the
    replaced object (`old_key`) is deleted. Must be used inside `transaction.atomic`.
    """
    key = store_image(upload, prefix=prefix)
    try:
        yield key
    except BaseException:
        delete_image(key)
        raise
    if old_key:
        transaction.on_commit(partial(delete_image, old_key))


def image_url(key: str) -> str | None:
    """The URL clients fetch an object from: the public base URL when set, else a presigned GET."""
    if not key:
        return None
    if settings.S3_PUBLIC_BASE_URL:
        return f"{settings.S3_PUBLIC_BASE_URL.rstrip('/')}/{key}"
    try:
        url: str = s3_client().generate_presigned_url(
            "get_object",
            Params={"Bucket": settings.S3_BUCKET, "Key": key},
            ExpiresIn=settings.S3_PRESIGNED_URL_TTL_SECONDS,
        )
    except BotoCoreError:
        # Presigning is local; it fails only without credentials, and a missing URL beats a 500.
        return None
    return url


def ensure_bucket() -> None:
    """Create the media bucket if it does not exist yet (start-up)."""
    client = s3_client()
    try:
        client.head_bucket(Bucket=settings.S3_BUCKET)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    options: dict[str, Any] = {"Bucket": settings.S3_BUCKET}
    if settings.AWS_REGION != "us-east-1":
        options["CreateBucketConfiguration"] = {"LocationConstraint": settings.AWS_REGION}
    client.create_bucket(**options)
