from __future__ import annotations

import struct
import zlib
from unittest import mock

import pytest
from botocore.exceptions import EndpointConnectionError
from django.test import override_settings

from core_app.common import uploads
from core_app.common.exceptions import FileTooLarge, InvalidFile, ServiceUnavailable, UnsupportedMediaType
from core_app.common.uploads import ImageKind, ensure_bucket, image_url, store_image, validate_image
from core_app.testing.images import emulated_s3, image_bytes, image_upload, stored_object


@pytest.fixture
def s3_mock():
    uploads.s3_client.cache_clear()
    with mock.patch("core_app.common.uploads.boto3.client") as factory:
        yield factory.return_value
    uploads.s3_client.cache_clear()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.png", ImageKind.PNG),
        ("a.JPG", ImageKind.JPEG),
        ("photo.jpeg", ImageKind.JPEG),
        ("a.gif", ImageKind.GIF),
        ("a.webp", ImageKind.WEBP),
    ],
)
def test_valid_images_are_recognised(name: str, kind: ImageKind) -> None:
    assert validate_image(image_upload(name)) is kind


@pytest.mark.parametrize("name", ["a.bmp", "a.svg", "a.png.exe", "noext", "a.", ".png.txt"])
def test_extensions_outside_the_allow_list_are_415(name: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        validate_image(image_upload(name, image_bytes("png")))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.png", image_bytes("jpg")),  # real image, wrong type
        ("a.jpg", image_bytes("png")),
        ("a.webp", image_bytes("gif")),
        ("a.png", b""),
        ("a.png", b"hello, world"),
        ("a.png", image_bytes("png")[:40]),  # right magic, truncated body
        ("a.gif", b"GIF89a" + b"\x00" * 64),  # right magic, not a GIF
        ("a.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 garbage"),
        ("a.jpg", b"\xff\xd8\xff" + b"<script>alert(1)</script>"),
    ],
)
def test_bytes_that_are_not_that_image_type_are_400(name: str, content: bytes) -> None:
    with pytest.raises(InvalidFile):
        validate_image(image_upload(name, content))


@override_settings(UPLOAD_MAX_BYTES=100)
def test_size_is_checked_first_413() -> None:
    with pytest.raises(FileTooLarge) as info:
        validate_image(image_upload("a.bmp", b"x" * 101))
    assert info.value.details["max_bytes"] == 100


def test_store_image_puts_the_object_with_its_content_type(s3_mock) -> None:
    key = store_image(image_upload("x.jpeg"), prefix="/avatars/users/7/")
    assert key.startswith("avatars/users/7/") and key.endswith(".jpg")
    s3_mock.put_object.assert_called_once()
    kwargs = s3_mock.put_object.call_args.kwargs
    assert kwargs["Key"] == key and kwargs["ContentType"] == "image/jpeg"
    assert kwargs["Body"] == image_bytes("jpg")


def test_store_image_validates_before_uploading(s3_mock) -> None:
    with pytest.raises(InvalidFile):
        store_image(image_upload("x.png", b"nope"), prefix="p")
    s3_mock.put_object.assert_not_called()


def test_store_image_maps_an_unreachable_store_to_503(s3_mock) -> None:
    s3_mock.put_object.side_effect = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    with pytest.raises(ServiceUnavailable):
        store_image(image_upload("x.png"), prefix="p")


@override_settings(AWS_ENDPOINT_URL="http://127.0.0.1:4999", AWS_REGION="eu-west-1")
def test_the_client_uses_the_configured_endpoint_and_is_cached() -> None:
    uploads.s3_client.cache_clear()
    with mock.patch("core_app.common.uploads.boto3.client") as factory:
        assert uploads.s3_client() is uploads.s3_client()
    factory.assert_called_once_with("s3", endpoint_url="http://127.0.0.1:4999", region_name="eu-west-1")
    uploads.s3_client.cache_clear()


def test_image_url_of_no_key_is_none(s3_mock) -> None:
    assert image_url("") is None
    s3_mock.generate_presigned_url.assert_not_called()


@override_settings(S3_PUBLIC_BASE_URL="https://cdn.example.com/media/")
def test_image_url_uses_the_public_base_url_when_set(s3_mock) -> None:
    assert image_url("avatars/a.png") == "https://cdn.example.com/media/avatars/a.png"
    s3_mock.generate_presigned_url.assert_not_called()


@override_settings(S3_PUBLIC_BASE_URL="", AWS_ENDPOINT_URL="http://127.0.0.1:4999", S3_BUCKET="media")
def test_image_url_presigns_locally_without_a_network_call() -> None:
    uploads.s3_client.cache_clear()
    with mock.patch("botocore.endpoint.Endpoint.make_request") as network:
        url = image_url("avatars/a.png")
    network.assert_not_called()
    assert url is not None and url.startswith("http://127.0.0.1:4999/media/avatars/a.png?")
    assert "Signature" in url or "X-Amz-Signature" in url
    uploads.s3_client.cache_clear()


def test_round_trip_through_emulated_s3() -> None:
    with emulated_s3() as client:
        ensure_bucket()  # idempotent when the bucket exists
        key = store_image(image_upload("pic.webp"), prefix="pages/3")
        body, content_type = stored_object(client, key)
    assert body == image_bytes("webp") and content_type == "image/webp"


def test_ensure_bucket_creates_a_missing_bucket() -> None:
    with emulated_s3() as client, override_settings(S3_BUCKET="another-bucket"):
        assert "another-bucket" not in {b["Name"] for b in client.list_buckets()["Buckets"]}
        ensure_bucket()
        assert "another-bucket" in {b["Name"] for b in client.list_buckets()["Buckets"]}


def _png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose header claims another size (CRC fixed up)."""
    data = bytearray(image_bytes("png", size=(1, 1)))
    ihdr = 8 + 8  # signature, then length+type of the IHDR chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def test_a_decompression_bomb_is_rejected_not_a_500() -> None:
    with pytest.raises(InvalidFile):
        validate_image(image_upload("bomb.png", _png_claiming(100_000, 100_000)))
