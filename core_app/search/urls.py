from django.urls import URLPattern, URLResolver

from core_app.common.routers import Router
from core_app.search.views import SearchViewSet

router = Router()
router.register("search", SearchViewSet, basename="search")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
