from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "core_app.ops"
    label = "ops"
    verbose_name = "Operations"
