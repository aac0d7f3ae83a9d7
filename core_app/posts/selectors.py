"""Reads of posts, likes and replies; every one goes through `readable_posts_q`."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from core_app.common.exceptions import NotFound
from core_app.pages.models import Page
from core_app.pages.visibility import readable_posts_q
from core_app.posts.models import Like, Post
from core_app.users.models import User


def with_page_and_like(queryset: QuerySet[Post], *, viewer: User) -> QuerySet[Post]:
    """Posts with their page and the viewer's `liked_by_me`, in the same query."""
    liked = Like.objects.filter(post=OuterRef("pk"), user=viewer)
    return queryset.select_related("page").annotate(liked_by_me=Exists(liked))


def post_queryset(*, viewer: User) -> QuerySet[Post]:
    """Posts the viewer may read, with their page and `liked_by_me` in the same query."""
    return with_page_and_like(Post.objects.filter(readable_posts_q(viewer)), viewer=viewer)


def post_get(*, viewer: User, post_id: int) -> Post:
    """One readable post, or NotFound."""
    post = post_queryset(viewer=viewer).filter(pk=post_id).first()
    if post is None:
        raise NotFound("Post not found.")
    return post


def page_post_list(*, viewer: User, page_id: int) -> QuerySet[Post]:
    """The posts of one page; NotFound when the viewer may not read that page's posts."""
    if not Page.objects.filter(readable_posts_q(viewer, prefix=""), pk=page_id).exists():
        raise NotFound("Page not found.")
    return post_queryset(viewer=viewer).filter(page_id=page_id)


def post_reply_list(*, viewer: User, post_id: int) -> QuerySet[Post]:
    """The readable replies of a readable post."""
    if not Post.objects.filter(readable_posts_q(viewer), pk=post_id).exists():
        raise NotFound("Post not found.")
    return post_queryset(viewer=viewer).filter(reply_to_id=post_id)


def liked_post_list(*, viewer: User) -> QuerySet[Like]:
    """The viewer's likes of posts they may still read; each like carries its post and page."""
    return (
        Like.objects.filter(user=viewer)
        .filter(readable_posts_q(viewer, prefix="post__page__"))
        .select_related("post__page")
    )
