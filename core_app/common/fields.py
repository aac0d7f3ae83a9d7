"""Strict serializer fields: no silent coercion (a number is not a string, "true" is not a bool)."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

# C0 and C1 control characters and DEL; tab, line feed and carriage return stay allowed (NUL is
# refused by DRF's own validator before this runs).
CONTROL_CHARACTERS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class StrictCharField(serializers.CharField):
    """A string, exactly: no coercion of other JSON types, no control characters."""

    default_error_messages = {
        "invalid": "Must be a string.",
        "control_characters": "Control characters are not allowed.",
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if CONTROL_CHARACTERS.search(value):
            self.fail("control_characters")
        return value


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be a boolean."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be an integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField, StrictCharField):
    pass


class StrictDateTimeField(serializers.DateTimeField):
    default_error_messages = {"invalid": "Must be an ISO 8601 date-time string with a UTC offset."}

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str):
            self.fail("invalid")
        parsed = super().to_internal_value(value)
        return parsed


class StrictModelSerializer(serializers.ModelSerializer):
    """ModelSerializer whose generated fields are the strict ones above."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
    }


_STRICT = {
    serializers.CharField: StrictCharField,
    serializers.BooleanField: StrictBooleanField,
    serializers.IntegerField: StrictIntegerField,
    serializers.EmailField: StrictEmailField,
    serializers.DateTimeField: StrictDateTimeField,
}
StrictModelSerializer.serializer_field_mapping = {
    model_field: _STRICT.get(field, field)
    for model_field, field in serializers.ModelSerializer.serializer_field_mapping.items()
}


class StrictChoiceField(serializers.ChoiceField):
    """A choice given as a string exactly (no `1` for `"1"`, no `true` for `"True"`)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


_STRICT[serializers.ChoiceField] = StrictChoiceField
StrictModelSerializer.serializer_choice_field = StrictChoiceField
