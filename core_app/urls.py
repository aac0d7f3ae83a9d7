"""Root URLs: the API under /api/v1/, health, OpenAPI schema and docs, the admin panel.

Anything else, and every error of any layer, answers the API's JSON error body (the handlers
below, CSRF_FAILURE_VIEW and JSONErrorsMiddleware in core_app.common.exceptions)."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from core_app.common.health import health
from core_app.pages.stats import PageStatsView

api_v1: list[URLPattern | URLResolver] = [
    re_path(r"^pages/(?P<page_id>[^/]+)/stats/?$", PageStatsView.as_view(), name="page-stats"),
    # The hottest routes first: a post or feed request tried ~38 patterns behind the others.
    path("", include("core_app.posts.urls")),
    path("", include("core_app.feed.urls")),
    path("", include("core_app.notifications.urls")),  # before users: users/me/notifications
    path("", include("core_app.users.urls")),
    path("", include("core_app.pages.urls")),
    path("", include("core_app.search.urls")),
    path("", include("core_app.moderation.urls")),
]

urlpatterns = [
    re_path(r"^health/?$", health, name="health"),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api/redoc/?$", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
]

# The admin header's "view site" link: the API has no home page, its docs are the nearest thing.
admin.site.site_url = "/api/docs/"

handler400 = "core_app.common.exceptions.json_400"
handler403 = "core_app.common.exceptions.json_403"
handler404 = "core_app.common.exceptions.json_404"
handler500 = "core_app.common.exceptions.json_500"
