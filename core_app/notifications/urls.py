from django.urls import URLPattern, URLResolver, re_path

from core_app.notifications.views import (
    DigestPreviewView,
    DigestRunView,
    NotificationPreferencesView,
    UnsubscribeView,
)

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^users/me/notifications/?$", NotificationPreferencesView.as_view(), name="notifications"),
    re_path(r"^users/me/digest/preview/?$", DigestPreviewView.as_view(), name="digest-preview"),
    re_path(r"^digests/run/?$", DigestRunView.as_view(), name="digest-run"),
    re_path(
        r"^digests/unsubscribe/(?P<token>[A-Za-z0-9_:-]{1,200})/?$",
        UnsubscribeView.as_view(),
        name="unsubscribe",
    ),
]
