"""HTTP adapters of the e-mail preferences, the digest preview, the run and the unsubscribe link."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from kombu.exceptions import OperationalError
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core_app.common.exceptions import ServiceUnavailable
from core_app.common.permissions import IsAdminRole
from core_app.common.schema import errors
from core_app.common.views import caller, validated
from core_app.notifications import selectors, services
from core_app.notifications.serializers import (
    DigestPreviewSerializer,
    DigestRunAcceptedSerializer,
    DigestRunSerializer,
    NotificationPreferencesSerializer,
    NotificationPreferencesUpdateSerializer,
    UnsubscribedSerializer,
)


class NotificationPreferencesView(APIView):
    """The caller's e-mail preference: instant, a daily or weekly digest, or off."""

    @extend_schema(responses=NotificationPreferencesSerializer)
    def get(self, request: Request) -> Response:
        return Response(services.preferences_of(caller(request)))

    @extend_schema(
        request=NotificationPreferencesUpdateSerializer, responses=NotificationPreferencesSerializer
    )
    def patch(self, request: Request) -> Response:
        data = validated(NotificationPreferencesUpdateSerializer, request.data)
        return Response(
            services.preferences_of(services.notifications_update(user=caller(request), data=data))
        )


class DigestPreviewView(APIView):
    """What the caller's next digest would hold right now."""

    @extend_schema(responses=DigestPreviewSerializer)
    def get(self, request: Request) -> Response:
        digest, posts = selectors.digest_preview(viewer=caller(request))
        body: dict[str, Any] = {
            "period_start": digest.period_start,
            "posts": posts,
            "more": digest.more,
            "new_followers": digest.new_followers,
            "follow_requests": digest.follow_requests,
            "likes_received": digest.likes_received,
        }
        return Response(DigestPreviewSerializer(body, context={"request": request}).data)


class DigestRunView(APIView):
    """Admins: run one period's digests now for every user in that mode (as if their hour had come)."""

    permission_classes = [IsAdminRole]

    @extend_schema(
        request=DigestRunSerializer,
        responses={202: DigestRunAcceptedSerializer},  # 403 for non-admins: documented by the schema class
    )
    def post(self, request: Request) -> Response:
        period = validated(DigestRunSerializer, request.data)["period"]
        from projections.digests.service import digest_run_request  # imports the Celery app

        try:
            slot = digest_run_request(period=period)
        except OperationalError:
            raise ServiceUnavailable("The task broker is unavailable; try again.") from None
        return Response({"period": period, "slot": slot}, status=202)


UNSUBSCRIBE_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head>
<body><form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<p>Stop all e-mail from Innotter?</p><button type="submit">Unsubscribe</button></form></body></html>"""


class UnsubscribeView(APIView):
    """RFC 8058 one-click unsubscribe: no login, the signed token in the path says who."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser, JSONParser]

    @extend_schema(
        request=None,
        description="The `List-Unsubscribe` link of every digest (RFC 8058 one-click): switches the token's "
        'user to `"email": "off"`. The token is signed and user-specific; a changed one is refused.',
        responses={200: UnsubscribedSerializer, **errors(400)},  # 400: the token is not valid
    )
    def post(self, request: Request, token: str) -> Response:
        services.notifications_unsubscribe(token=token)
        return Response({"email": "off"})

    @extend_schema(
        description="The same link opened in a browser: a page with the button that sends the POST "
        "(opening it changes nothing, so link scanners cannot unsubscribe anyone).",
        responses={(200, "text/html"): OpenApiTypes.STR, **errors(400)},  # 400: the token is not valid
    )
    def get(self, request: Request, token: str) -> HttpResponse:
        services.unsubscribe_user(token=token)  # refuses a changed token before showing anything
        return HttpResponse(UNSUBSCRIBE_PAGE, content_type="text/html; charset=utf-8")
