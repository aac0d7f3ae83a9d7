"""A URLconf for the error tests: the project's routes plus views and a middleware that fail."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from django.core.exceptions import PermissionDenied
from django.db import utils as db_utils
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from core_app.urls import handler400, handler403, handler404, handler500, urlpatterns

FAILURES: dict[str, Callable[[], Exception]] = {
    "denied": lambda: PermissionDenied(),
    "bug": lambda: ValueError("a secret detail of the bug"),
    "db-django": lambda: db_utils.OperationalError("connection refused"),
    "db-interface": lambda: db_utils.InterfaceError("connection already closed"),
    "db-psycopg": lambda: psycopg.OperationalError("the database system is starting up"),
}


def plain_view(request: HttpRequest, failure: str) -> HttpResponse:
    raise FAILURES[failure]()


@api_view(["GET"])
@permission_classes([])
def drf_view(request: Request, failure: str) -> Response:
    raise FAILURES[failure]()


class FailingMiddleware:
    """Fails before any view runs, for paths under /middleware/<failure>."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/middleware/"):
            raise FAILURES[request.path.split("/")[2]]()
        return self.get_response(request)


urlpatterns = [
    *urlpatterns,
    path("plain/<str:failure>", plain_view),
    path("drf/<str:failure>", drf_view),
]
__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
