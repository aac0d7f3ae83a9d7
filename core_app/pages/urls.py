from django.urls import URLPattern, URLResolver

from core_app.common.routers import Router
from core_app.pages.views import PageViewSet

router = Router()
router.register("pages", PageViewSet, basename="page")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
