"""The search query and the search answer."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from core_app.common.fields import StrictCharField
from core_app.pages.serializers import PageSerializer
from core_app.users.serializers import UserSerializer

Q_MAX_LENGTH = 100


class SearchQuerySerializer(serializers.Serializer):
    q = StrictCharField(max_length=Q_MAX_LENGTH, trim_whitespace=True)


# One object, not a list, although it answers a `list` action.
@extend_schema_serializer(many=False)
class SearchResultSerializer(serializers.Serializer):
    pages = PageSerializer(many=True, read_only=True)
    users = UserSerializer(many=True, read_only=True)
