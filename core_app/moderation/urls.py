from django.urls import URLPattern, URLResolver

from core_app.common.routers import Router

router = Router()

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
