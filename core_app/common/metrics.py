"""The core API's request histogram: one middleware, outermost, labelled by the route template
(`/api/v1/posts/{pk}`, never the raw path) that Django's resolver matched."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from observability.metrics import UNMATCHED_ROUTE, observe_request, route_template


class MetricsMiddleware:
    """Times every request, whatever layer answered it (installed only when metrics are on)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match  # set by the resolver; None when no route matched
        route = route_template(match.route) if match is not None else UNMATCHED_ROUTE
        observe_request(route, request.method or "", response.status_code, time.perf_counter() - started)
        return response
