"""Posts (optionally replies) and likes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Length

from core_app.pages.models import Page

CONTENT_MAX_LENGTH = 2000
models.TextField.register_lookup(Length, "length")


class Post(models.Model):
    """A post of a page; `likes_count` and `replies_count` are kept exact by the services."""

    # No single-column index on page_id or reply_to_id: post_page_idx and post_reply_to_idx lead
    # with them and serve every lookup and cascade, and each index costs every insert.
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="posts", db_index=False)
    content = models.TextField(max_length=CONTENT_MAX_LENGTH)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies", db_index=False
    )
    likes_count = models.PositiveIntegerField(default=0)
    replies_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(content__length__gte=1, content__length__lte=CONTENT_MAX_LENGTH),
                name="post_content_length",
            ),
            models.CheckConstraint(
                condition=~models.Q(reply_to=models.F("id")), name="post_not_reply_to_self"
            ),
        ]
        indexes = [
            models.Index(fields=["page", "-id"], name="post_page_idx"),
            models.Index(fields=["reply_to", "id"], name="post_reply_to_idx"),
        ]

    def __str__(self) -> str:
        return f"post {self.pk} of page {self.page_id}"


class Like(models.Model):
    # like_unique and like_user_idx lead with user_id: no index of its own (see Post.page)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes", db_index=False
    )
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "post"], name="like_unique")]
        indexes = [models.Index(fields=["user", "-id"], name="like_user_idx")]
