"""HTTP adapters for auth and users: parse, call one service or selector, serialize."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from core_app.common.exceptions import ValidationFailed
from core_app.common.permissions import IsAdminRole
from core_app.common.views import caller, validated
from core_app.users import selectors, services
from core_app.users.models import User
from core_app.users.serializers import (
    AvatarSerializer,
    BlockSerializer,
    LoginSerializer,
    RefreshSerializer,
    RegisterSerializer,
    RoleSerializer,
    TokenPairSerializer,
    UserSerializer,
    UserUpdateSerializer,
)


class AuthViewSet(viewsets.ViewSet):
    """Registration and the token lifecycle; only logout needs an access token."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer})
    @action(detail=False, methods=["post"])
    def register(self, request: Request) -> Response:
        user = services.user_register(**validated(RegisterSerializer, request.data))
        return Response(UserSerializer(user, context={"viewer": user}).data, status=201)

    @extend_schema(request=LoginSerializer, responses={200: TokenPairSerializer})
    @action(detail=False, methods=["post"])
    def login(self, request: Request) -> Response:
        pair = services.user_login(**validated(LoginSerializer, request.data))
        return Response(pair.as_response())

    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer})
    @action(detail=False, methods=["post"])
    def refresh(self, request: Request) -> Response:
        pair = services.user_refresh(**validated(RefreshSerializer, request.data))
        return Response(pair.as_response())

    @extend_schema(request=RefreshSerializer, responses={204: OpenApiResponse(description="Logged out")})
    @action(
        detail=False,
        methods=["post"],
        authentication_classes=api_settings.DEFAULT_AUTHENTICATION_CLASSES,
        permission_classes=[IsAuthenticated],
    )
    def logout(self, request: Request) -> Response:
        services.user_logout(user=caller(request), **validated(RefreshSerializer, request.data))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserViewSet(viewsets.GenericViewSet):
    """Own profile and avatar, other users, and the admins' block/unblock/role actions."""

    serializer_class = UserSerializer
    queryset = User.objects.none()  # only tells the schema the id's type; reads go through selectors

    def _respond(self, user: User) -> Response:
        return Response(self.get_serializer(user).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return self._respond(selectors.user_get(viewer=caller(request), user_id=pk))

    @extend_schema(methods=["PATCH"], request=UserUpdateSerializer)
    @action(detail=False, methods=["get", "patch"])
    def me(self, request: Request) -> Response:
        user = caller(request)
        if request.method == "PATCH":
            user = services.user_update(user=user, data=validated(UserUpdateSerializer, request.data))
        return self._respond(user)

    @extend_schema(request={"multipart/form-data": AvatarSerializer})
    @action(detail=False, methods=["put"], url_path="me/avatar")
    def avatar(self, request: Request) -> Response:
        # An oversized body was refused before this (core_app.common.middleware).
        upload = request.data.get("file") if hasattr(request.data, "get") else None
        if not isinstance(upload, UploadedFile):
            raise ValidationFailed.field("file", "An image file is required (multipart field `file`).")
        return self._respond(services.user_set_avatar(user=caller(request), upload=upload))

    @extend_schema(request=BlockSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAdminRole])
    def block(self, request: Request, pk: str) -> Response:
        target = selectors.user_get_for_update(user_id=pk)
        reason = validated(BlockSerializer, request.data)["reason"]
        return self._respond(services.user_block(actor=caller(request), user=target, reason=reason))

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], permission_classes=[IsAdminRole])
    def unblock(self, request: Request, pk: str) -> Response:
        target = selectors.user_get_for_update(user_id=pk)
        return self._respond(services.user_unblock(actor=caller(request), user=target))

    @extend_schema(request=RoleSerializer)
    @action(detail=True, methods=["patch"], permission_classes=[IsAdminRole])
    def role(self, request: Request, pk: str) -> Response:
        target = selectors.user_get_for_update(user_id=pk)
        role = validated(RoleSerializer, request.data)["role"]
        return self._respond(services.user_change_role(actor=caller(request), user=target, role=role))
