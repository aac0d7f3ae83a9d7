"""The request id of every API request (observability/trace.py): taken from `X-Request-ID` when
the client (or a proxy) sent an acceptable one, else made here; bound while the request runs, so
its log lines and the events it appends carry it; returned on every answer, errors included."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from observability.trace import HTTP_HEADER, REQUEST_ID, accept_request_id

META_KEY = "HTTP_" + HTTP_HEADER.upper().replace("-", "_")


class RequestIdMiddleware:
    """The outermost middleware: whatever answers below it (a view, an error of any layer, the
    JSON error middleware), the answer carries the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = accept_request_id(request.META.get(META_KEY))
        request.request_id = request_id  # type: ignore[attr-defined]  # for Django's own error log lines
        token = REQUEST_ID.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            REQUEST_ID.reset(token)
        response[HTTP_HEADER] = request_id
        return response
