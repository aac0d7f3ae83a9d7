from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "core_app.users"
    label = "users"
    default_auto_field = "django.db.models.BigAutoField"
