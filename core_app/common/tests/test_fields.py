from __future__ import annotations

import pytest
from rest_framework import serializers

from core_app.common.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictDateTimeField,
    StrictEmailField,
    StrictIntegerField,
    StrictModelSerializer,
)
from core_app.users.models import User


class Sample(serializers.Serializer):
    text = StrictCharField(required=False)
    flag = StrictBooleanField(required=False)
    number = StrictIntegerField(required=False, max_value=10)
    email = StrictEmailField(required=False)
    when = StrictDateTimeField(required=False)
    choice = StrictChoiceField(choices=["a", "b"], required=False)


@pytest.mark.parametrize(
    "data",
    [
        {"text": 5},
        {"text": True},
        {"text": ["a"]},
        {"flag": "true"},
        {"flag": 1},
        {"flag": None},
        {"number": "5"},
        {"number": 5.0},
        {"number": True},
        {"number": 11},
        {"email": 5},
        {"email": "nope"},
        {"when": 1700000000},
        {"when": "yesterday"},
        {"choice": 1},
        {"choice": "c"},
        {"choice": ["a"]},
    ],
)
def test_wrong_types_are_rejected(data) -> None:
    serializer = Sample(data=data)
    assert not serializer.is_valid()
    assert list(serializer.errors) == list(data)


def test_right_types_pass_unchanged() -> None:
    data = {
        "text": "hi",
        "flag": False,
        "number": 7,
        "email": "a@example.com",
        "when": "2026-01-01T10:00:00+00:00",
        "choice": "b",
    }
    serializer = Sample(data=data)
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["flag"] is False
    assert serializer.validated_data["number"] == 7
    assert serializer.validated_data["when"].utcoffset().total_seconds() == 0


def test_model_serializer_generates_strict_fields() -> None:
    class UserInput(StrictModelSerializer):
        class Meta:
            model = User
            fields = ("username", "email_notifications", "role")

    fields = UserInput().fields
    assert isinstance(fields["username"], StrictCharField)
    assert isinstance(fields["email_notifications"], StrictBooleanField)
    assert isinstance(fields["role"], StrictChoiceField)
    serializer = UserInput(data={"username": 1, "email_notifications": "yes", "role": 2})
    assert not serializer.is_valid()
    assert set(serializer.errors) == {"username", "email_notifications", "role"}
