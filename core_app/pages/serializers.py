"""Page representations and the strict input shapes of the page endpoints."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core_app.common.exceptions import ValidationFailed
from core_app.common.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictDateTimeField,
    StrictIntegerField,
    StrictModelSerializer,
)
from core_app.common.ids import MAX_BIGINT
from core_app.common.uploads import image_url
from core_app.pages import services
from core_app.pages.models import Follow, Page
from core_app.pages.selectors import (
    FOLLOW_STATUS_BY_STATE,
    FOLLOW_STATUS_NONE,
    FOLLOW_STATUS_OWNER,
    FOLLOW_STATUSES,
)
from core_app.pages.visibility import page_is_blocked
from core_app.users.models import User
from core_app.users.serializers import UserBriefSerializer, UserSerializer

# Follow requests decided in one call by id (`all: true` decides every pending one instead).
MAX_USER_IDS = 1_000


class PageBriefSerializer(StrictModelSerializer):
    """`{id, uuid, name, image_url}`: the page inside a post."""

    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Page
        fields = ("id", "uuid", "name", "image_url")
        read_only_fields = fields

    def get_image_url(self, page: Page) -> str | None:
        return image_url(page.image_key)


class PageSerializer(StrictModelSerializer):
    """A page as the caller sees it; expects a queryset from `selectors.page_list`/`annotate_pages`."""

    tags = serializers.SerializerMethodField()
    owner = UserBriefSerializer(read_only=True)
    image_url = serializers.SerializerMethodField()
    is_blocked = serializers.SerializerMethodField()
    unblock_date = serializers.SerializerMethodField()
    follow_status = serializers.SerializerMethodField()

    class Meta:
        model = Page
        fields = (
            "id",
            "uuid",
            "name",
            "description",
            "tags",
            "is_private",
            "owner",
            "image_url",
            "followers_count",
            "is_blocked",
            "unblock_date",
            "created_at",
            "follow_status",
        )
        read_only_fields = fields

    def get_tags(self, page: Page) -> list[str]:
        # Prefetched in name order by the selector; sorting here keeps other querysets right too.
        return sorted(tag.name for tag in page.tags.all())

    def get_image_url(self, page: Page) -> str | None:
        return image_url(page.image_key)

    def get_is_blocked(self, page: Page) -> bool:
        annotated = getattr(page, "is_blocked", None)
        return bool(annotated) if annotated is not None else page_is_blocked(page)

    @extend_schema_field(serializers.ChoiceField(choices=FOLLOW_STATUSES))
    def get_follow_status(self, page: Page) -> str:
        annotated = getattr(page, "follow_status", None)
        return annotated if annotated is not None else self._follow_status_query(page)

    def _follow_status_query(self, page: Page) -> str:
        """For a page that did not come from the selectors (one query)."""
        viewer = getattr(self.context.get("request"), "user", None)
        if not isinstance(viewer, User):
            return FOLLOW_STATUS_NONE
        if viewer.pk == page.owner_id:
            return FOLLOW_STATUS_OWNER
        status = Follow.objects.filter(page=page, follower=viewer).values_list("status", flat=True).first()
        return FOLLOW_STATUS_BY_STATE.get(status or "", FOLLOW_STATUS_NONE)

    def get_unblock_date(self, page: Page) -> str | None:
        """When a timed block ends; null when not blocked, blocked permanently or via the owner."""
        until = page.blocked_until
        if page.blocked_permanently or until is None or until <= timezone.now() or page.owner.is_blocked:
            return None
        return serializers.DateTimeField().to_representation(until)


def _normalized_tags(names: list[str]) -> list[str]:
    try:
        return services.normalize_tags(names)
    except ValidationFailed as exc:
        raise serializers.ValidationError(exc.details["tags"]) from None


def _tags_field(**kwargs: Any) -> serializers.ListField:
    # The raw list may hold duplicates; the normalized one is capped at MAX_TAGS by the service.
    return serializers.ListField(
        child=StrictCharField(max_length=200, trim_whitespace=False), max_length=100, **kwargs
    )


class PageCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=services.NAME_MAX_LENGTH)
    uuid = StrictCharField(max_length=30, trim_whitespace=False)
    description = StrictCharField(
        max_length=services.DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    tags = _tags_field(required=False, default=list)
    is_private = StrictBooleanField(required=False, default=False)

    def validate_uuid(self, value: str) -> str:
        if not services.UUID_RE.fullmatch(value):
            raise serializers.ValidationError("3..30 characters: letters, digits, '_', '.' or '-'.")
        return value

    def validate_tags(self, value: list[str]) -> list[str]:
        return _normalized_tags(value)


class PageUpdateSerializer(PageCreateSerializer):
    name = StrictCharField(max_length=services.NAME_MAX_LENGTH, required=False)
    uuid = StrictCharField(max_length=30, trim_whitespace=False, required=False)
    description = StrictCharField(
        max_length=services.DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
    )
    tags = _tags_field(required=False)
    is_private = StrictBooleanField(required=False)


class TagSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, trim_whitespace=False)

    def validate_name(self, value: str) -> str:
        try:
            return services.normalize_tag(value)
        except ValidationFailed as exc:
            raise serializers.ValidationError(exc.details["tags"]) from None


class PageImageSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="png, jpg/jpeg, gif or webp; at most 5 MiB.")


class FollowStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["following", "requested"], read_only=True)


class FollowerSerializer(serializers.Serializer):
    """A follower: the user object (serializes `Follow.follower`)."""

    def to_representation(self, instance: Follow) -> dict[str, Any]:
        data: dict[str, Any] = UserSerializer(instance.follower, context=self.context).data
        return data


class FollowRequestSerializer(serializers.Serializer):
    user = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)

    def get_user(self, follow: Follow) -> dict[str, Any]:
        data: dict[str, Any] = UserSerializer(follow.follower, context=self.context).data
        return data


class FollowDecisionSerializer(serializers.Serializer):
    """Exactly one of `user_ids` (ids of users; those without a request are ignored) or `all: true`."""

    user_ids = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_BIGINT),
        max_length=MAX_USER_IDS,
        required=False,
        help_text=f"Ids of users whose requests to decide, at most {MAX_USER_IDS:,} per call (400 above).",
    )
    all = StrictBooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("user_ids" in attrs) == (attrs.get("all") is True) or attrs.get("all") is False:
            raise serializers.ValidationError("Give exactly one of 'user_ids' or 'all: true'.")
        return attrs


class AcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(read_only=True)


class RejectedSerializer(serializers.Serializer):
    rejected = serializers.IntegerField(read_only=True)


class AwareDateTimeField(StrictDateTimeField):
    """An ISO 8601 date-time that must carry its UTC offset (no server-local guessing)."""

    def to_internal_value(self, value: Any) -> Any:
        try:
            parsed = parse_datetime(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is not None and timezone.is_naive(parsed):
            self.fail("invalid")
        return super().to_internal_value(value)


class PageBlockSerializer(serializers.Serializer):
    until = AwareDateTimeField(allow_null=True, help_text="Future, with a UTC offset; null: permanently.")
    reason = StrictCharField(max_length=services.REASON_MAX_LENGTH, allow_blank=True)

    def validate_until(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value
