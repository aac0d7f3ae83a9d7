"""Shapes of the e-mail preference, digest preview and digest run endpoints."""

from __future__ import annotations

from rest_framework import serializers

from core_app.common.fields import StrictChoiceField, StrictIntegerField
from core_app.notifications.services import EMAIL_CHOICES, WEEKDAYS
from core_app.posts.serializers import PostSerializer


class NotificationPreferencesSerializer(serializers.Serializer):
    email = StrictChoiceField(
        choices=EMAIL_CHOICES,
        help_text="instant: one e-mail per post; daily/weekly: a digest; off: no e-mail.",
    )
    hour = StrictIntegerField(min_value=0, max_value=23, help_text="Hour of the digest, UTC (default 7).")
    weekday = StrictChoiceField(choices=WEEKDAYS, help_text="Day of the weekly digest (default monday).")


class NotificationPreferencesUpdateSerializer(NotificationPreferencesSerializer):
    """PATCH: any subset of the fields."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for field in self.fields.values():
            field.required = False


class DigestPreviewSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField()
    posts = PostSerializer(many=True)
    more = serializers.IntegerField(help_text="Posts of the period beyond the ones listed.")
    new_followers = serializers.IntegerField(help_text="Follows of your pages accepted in the period.")
    follow_requests = serializers.IntegerField(
        help_text="Requests to your pages made in the period, pending."
    )
    likes_received = serializers.IntegerField(help_text="Likes of your pages' posts in the period.")


class DigestRunSerializer(serializers.Serializer):
    period = StrictChoiceField(choices=("daily", "weekly"))


class DigestRunAcceptedSerializer(serializers.Serializer):
    period = serializers.CharField()
    slot = serializers.DateTimeField(
        help_text="The hour the run is claimed under (one digest per user and hour)."
    )


class UnsubscribedSerializer(serializers.Serializer):
    email = serializers.CharField(help_text='Always "off".')
