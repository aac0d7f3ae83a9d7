"""Posts in the admin site: read-only records; deletion goes through the service, with a reason."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from core_app.common.admin import RoleAdminMixin, run_with_form
from core_app.common.views import caller
from core_app.posts.models import Post
from core_app.posts.serializers import REASON_MAX_LENGTH
from core_app.posts.services import post_delete


class DeletePostsForm(forms.Form):
    reason = forms.CharField(max_length=REASON_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(Post)
class PostAdmin(RoleAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "page",
        "short_content",
        "reply_to_id",
        "likes_count",
        "replies_count",
        "created_at",
    )
    list_select_related = ("page",)
    search_fields = ("content", "page__uuid", "page__name", "page__owner__username")
    list_filter = ("created_at",)
    ordering = ("-id",)
    fields = ("page", "content", "reply_to", "likes_count", "replies_count", "created_at", "updated_at")
    raw_id_fields = ("page", "reply_to")
    actions = ("delete_posts",)

    @admin.display(description="content")
    def short_content(self, post: Post) -> str:
        return post.content if len(post.content) <= 80 else f"{post.content[:79]}…"

    @admin.action(description="Delete selected posts", permissions=["staff"])
    def delete_posts(self, request: HttpRequest, queryset: QuerySet[Post]) -> TemplateResponse | None:
        actor = caller(request)
        return run_with_form(
            self,
            request,
            queryset,
            form_class=DeletePostsForm,
            title="Delete posts",
            apply=lambda post, data: post_delete(actor=actor, post_id=post.pk, reason=data["reason"]),
        )
