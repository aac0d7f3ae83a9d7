from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer

from core_app.common.renderers import ORJSONRenderer

SAMPLES = [
    None,
    {"results": [], "next": None},
    {
        "utc": datetime(2026, 12, 6, 11, 15, 0, 123456, tzinfo=UTC),
        "utc_zoneinfo": datetime(2026, 12, 6, 11, 15, tzinfo=ZoneInfo("UTC")),
        "offset": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
        "naive": datetime(2026, 1, 2, 3, 4, 5, 6),
        "date": date(2026, 2, 28),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "decimal": Decimal("12.50"),
        "lazy": gettext_lazy("Not found."),
        "detail": ErrorDetail("Must be a string.", code="invalid"),
        "text": 'caf\u00e9 \u2028 \u2029 \U0001f600 "quoted" \\ / \x00\x1f\x7f',
        "numbers": [0, -1, 2**63 - 1, -(2**63), True, False],
        "nested": {"list": [{"a": [None, {"b": "c"}]}], "empty": {}},
    },
    {"big": 2**64},  # beyond orjson: DRF's renderer writes it
    {1: "an integer key"},  # beyond orjson: DRF's renderer writes it
    ["a", "list", "at", "the", "top"],
]


@pytest.mark.parametrize("data", SAMPLES)
def test_output_is_byte_for_byte_drfs(data: object) -> None:
    media_type = "application/json"
    assert ORJSONRenderer().render(data, media_type) == JSONRenderer().render(data, media_type)


def test_indented_rendering_is_drfs() -> None:
    data = {"a": [1, {"b": None}]}
    rendered = ORJSONRenderer().render(data, "application/json; indent=2")
    assert rendered == JSONRenderer().render(data, "application/json; indent=2")
    assert b"\n  " in rendered


def test_what_neither_can_encode_fails_alike() -> None:
    with pytest.raises(TypeError):
        JSONRenderer().render({"x": object()})
    with pytest.raises(TypeError):
        ORJSONRenderer().render({"x": object()})
