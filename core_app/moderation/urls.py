from django.urls import URLPattern, URLResolver

from core_app.common.routers import Router
from core_app.moderation.views import AuditViewSet

router = Router()
router.register("audit", AuditViewSet, basename="audit")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
