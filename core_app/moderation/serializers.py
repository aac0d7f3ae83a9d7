"""The audit query filters and the audit item."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core_app.common.fields import StrictCharField, StrictChoiceField
from core_app.common.ids import is_plain_int
from core_app.moderation.selectors import TARGET_TYPES
from core_app.users.serializers import UserBriefSerializer
from events.models import StoredEvent


class IdParamField(StrictCharField):
    """A positive bigint given as a query-string value."""

    default_error_messages = {"invalid": "Must be a positive integer."}

    def to_internal_value(self, data: Any) -> int:  # type: ignore[override]
        raw = super().to_internal_value(data)
        if not is_plain_int(raw) or int(raw) < 1:
            self.fail("invalid")
        return int(raw)


class AuditFilterSerializer(serializers.Serializer):
    target_type = StrictChoiceField(choices=TARGET_TYPES, required=False)
    target_id = IdParamField(required=False)
    actor = IdParamField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "target_id" in attrs and "target_type" not in attrs:
            raise serializers.ValidationError({"target_type": ["Required with target_id."]})
        return attrs


class AuditEventSerializer(serializers.ModelSerializer):
    """`{id, event_id, type, actor, target_type, target_id, data, occurred_at}`; `id` is the log position."""

    id = serializers.IntegerField(source="position", read_only=True)
    actor = UserBriefSerializer(read_only=True, allow_null=True)
    target_type = serializers.CharField(source="aggregate_type", read_only=True)
    target_id = serializers.SerializerMethodField()
    # The metaclass moves declared fields out of the class, so `Serializer.data` stays intact.
    data = serializers.JSONField(source="payload", read_only=True)  # type: ignore[assignment]

    class Meta:
        model = StoredEvent
        fields = ("id", "event_id", "type", "actor", "target_type", "target_id", "data", "occurred_at")
        read_only_fields = fields

    def get_target_id(self, event: StoredEvent) -> int | str:
        aggregate_id = event.aggregate_id
        return int(aggregate_id) if is_plain_int(aggregate_id) else aggregate_id
