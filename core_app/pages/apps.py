from django.apps import AppConfig


class PagesConfig(AppConfig):
    name = "core_app.pages"
    label = "pages"
    default_auto_field = "django.db.models.BigAutoField"
