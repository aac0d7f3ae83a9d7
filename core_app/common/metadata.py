"""OPTIONS answers for every view, routes without an object id included.

DRF's SimpleMetadata checks object permissions for PUT by calling `get_object()`, which needs the
view's lookup keyword; a `detail=False` route that takes PUT (`/users/me/avatar`) has none, and
the assertion became a 500. Here the object check runs only where the route names an object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request, clone_request

if TYPE_CHECKING:  # rest_framework.views reads this class from the settings while it loads
    from rest_framework.views import APIView

WRITE_METHODS = ("PUT", "POST")


def _names_an_object(view: APIView) -> bool:
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
    return bool(lookup) and lookup in getattr(view, "kwargs", {})


class Metadata(SimpleMetadata):
    """SimpleMetadata's answer (name, description, renders, parses, actions) without the 500."""

    def determine_actions(self, request: Request, view: APIView) -> dict[str, Any]:
        actions: dict[str, Any] = {}
        for method in set(WRITE_METHODS) & set(view.allowed_methods):
            view.request = clone_request(request, method)
            try:
                view.check_permissions(view.request)
                if method == "PUT" and _names_an_object(view) and hasattr(view, "get_object"):
                    view.get_object()
            except (exceptions.APIException, PermissionDenied, Http404):
                pass
            else:
                actions[method] = self.get_serializer_info(view.get_serializer())  # type: ignore[attr-defined]
            finally:
                view.request = request
        return actions
