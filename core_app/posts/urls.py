from django.urls import URLPattern, URLResolver

from core_app.common.routers import Router
from core_app.posts.views import PagePostViewSet, PostViewSet

router = Router()
router.register("posts", PostViewSet, basename="post")
router.register(r"pages/(?P<page_id>[^/.]+)/posts", PagePostViewSet, basename="page-post")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
