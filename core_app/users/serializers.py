"""User representations (viewer-aware) and the strict input shapes of the user endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from core_app.common.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictEmailField,
    StrictModelSerializer,
)
from core_app.common.uploads import image_url
from core_app.users.models import Role, User

PRIVATE_FIELDS = ("email", "email_notifications")


def _viewer(context: Mapping[str, Any]) -> User | None:
    """`context["viewer"]` when given, else the request's user."""
    viewer = context.get("viewer") or getattr(context.get("request"), "user", None)
    return viewer if isinstance(viewer, User) else None


class UserSerializer(StrictModelSerializer):
    """A user; `email` and `email_notifications` only for the user themself and for staff."""

    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = (
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "role",
            "avatar_url",
            "is_blocked",
            "email_notifications",
        )
        read_only_fields = fields

    def get_avatar_url(self, user: User) -> str | None:
        return image_url(user.avatar_key)

    def to_representation(self, instance: User) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        viewer = _viewer(self.context)
        if viewer is None or (viewer.pk != instance.pk and not viewer.is_staff_role):
            for field in PRIVATE_FIELDS:
                data.pop(field, None)
        return data


class UserBriefSerializer(StrictModelSerializer):
    """`{id, username}`: page owners, audit actors."""

    class Meta:
        model = User
        fields = ("id", "username")
        read_only_fields = fields


def _username_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(max_length=150, validators=[UnicodeUsernameValidator()], **kwargs)


class RegisterSerializer(serializers.Serializer):
    username = _username_field()
    email = StrictEmailField(max_length=254)
    password = StrictCharField(max_length=1024, trim_whitespace=False, write_only=True)
    first_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")


class LoginSerializer(serializers.Serializer):
    # Any string is accepted: a malformed e-mail is just a failed login.
    email = StrictCharField(max_length=254)
    password = StrictCharField(max_length=1024, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer):
    refresh = StrictCharField(max_length=4096)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class UserUpdateSerializer(serializers.Serializer):
    first_name = StrictCharField(max_length=150, required=False, allow_blank=True)
    last_name = StrictCharField(max_length=150, required=False, allow_blank=True)
    username = _username_field(required=False)
    email_notifications = StrictBooleanField(required=False)


class AvatarSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="png, jpg/jpeg, gif or webp; at most 5 MiB.")


class BlockSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=500)


class RoleSerializer(serializers.Serializer):
    role = StrictChoiceField(choices=Role.choices)
