"""Request-wide rules that hold for every view, before any of them runs.

- A body over its limit is refused with 413 before anything reads or parses it: JSON (and any
  other non-multipart) bodies at REQUEST_BODY_MAX_BYTES, multipart uploads at UPLOAD_MAX_BYTES
  plus room for the multipart envelope. The declared Content-Length decides; a body without one
  is never read by the API (WSGI gives it no length).
- An answer to a request that carried credentials (`Authorization`) is `Cache-Control: no-store`
  unless the view chose otherwise, so no shared cache keeps one user's data.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core_app.common.exceptions import error_body

# Room for the multipart envelope (boundaries, part headers, other fields) around a file of the maximum size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self._refuse_oversized(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if "HTTP_AUTHORIZATION" in request.META and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response

    def _refuse_oversized(self, request: HttpRequest) -> HttpResponse | None:
        declared = request.META.get("CONTENT_LENGTH") or ""
        if not declared.isdigit():
            return None
        if request.META.get("CONTENT_TYPE", "").startswith("multipart/"):
            upload_max = settings.UPLOAD_MAX_BYTES
            if int(declared) <= upload_max + MULTIPART_OVERHEAD_BYTES:
                return None
            body = error_body("file_too_large", "The file is too large.", {"max_bytes": upload_max})
            return JsonResponse(body, status=413)
        body_max = settings.REQUEST_BODY_MAX_BYTES
        if int(declared) <= body_max:
            return None
        body = error_body("request_too_large", "The request body is too large.", {"max_bytes": body_max})
        return JsonResponse(body, status=413)
