from django.urls import URLPattern, URLResolver

from core_app.common.routers import Router
from core_app.users.views import AuthViewSet, UserViewSet

router = Router()
router.register("auth", AuthViewSet, basename="auth")
router.register("users", UserViewSet, basename="user")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
