"""GET /audit/: the moderation history (staff only)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.permissions import IsAuthenticated

from core_app.common.pagination import CursorPagination
from core_app.common.permissions import IsStaffRole
from core_app.moderation.selectors import TARGET_TYPES, moderation_event_list
from core_app.moderation.serializers import AuditEventSerializer, AuditFilterSerializer
from events.models import StoredEvent


class NewestEventFirstPagination(CursorPagination):
    ordering = "-position"


@extend_schema(
    parameters=[
        OpenApiParameter("target_type", str, enum=list(TARGET_TYPES)),
        OpenApiParameter("target_id", int, description="With target_type"),
        OpenApiParameter("actor", int, description="The acting user's id"),
    ]
)
class AuditViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Blocks, unblocks, role changes and staff deletions, newest first."""

    permission_classes = [IsAuthenticated, IsStaffRole]
    serializer_class = AuditEventSerializer
    pagination_class = NewestEventFirstPagination

    def get_queryset(self) -> QuerySet[StoredEvent]:
        filters = AuditFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        return moderation_event_list(
            target_type=data.get("target_type"),
            target_id=data.get("target_id"),
            actor_id=data.get("actor"),
        )
