"""App configs of the common package (kept free of model imports: loaded while apps populate)."""

from django.contrib.admin.apps import AdminConfig


class InnotterAdminConfig(AdminConfig):
    """Replaces `django.contrib.admin` in INSTALLED_APPS so `admin.site` is InnotterAdminSite."""

    default_site = "core_app.common.admin_site.InnotterAdminSite"
