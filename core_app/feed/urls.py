from django.urls import URLPattern, URLResolver

from core_app.common.routers import Router
from core_app.feed.views import FeedViewSet

router = Router()
router.register("feed", FeedViewSet, basename="feed")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
