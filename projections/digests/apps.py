from django.apps import AppConfig


class DigestsConfig(AppConfig):
    name = "projections.digests"
    label = "digests"
    default_auto_field = "django.db.models.BigAutoField"
