"""Writes of posts and likes; each service appends its event last, in its own transaction.

Lock order, to stay free of deadlocks: a page before its posts, a parent post before its
replies. Likes lock their post first, so the counters and the counts a deletion reports
are exact under concurrency.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from core_app.common.exceptions import NotFound, PermissionDeniedError, ValidationFailed
from core_app.pages.models import Page
from core_app.pages.selectors import page_is_blocked
from core_app.pages.visibility import readable_posts_q, visible_pages_q
from core_app.posts.models import CONTENT_MAX_LENGTH, Like, Post
from core_app.users.models import User
from events.append import append_event
from events.contracts import PostCreated, PostDeleted, PostLiked, PostUnliked, PostUpdated


def clean_content(content: str) -> str:
    """Trimmed content, 1..CONTENT_MAX_LENGTH characters, or a validation error."""
    content = content.strip()
    if not 1 <= len(content) <= CONTENT_MAX_LENGTH:
        raise ValidationFailed.field("content", f"Must be 1 to {CONTENT_MAX_LENGTH} characters long.")
    return content


def _own_postable_page(*, author: User, page_id: int) -> Page:
    """The author's page, locked against a concurrent block or deletion."""
    page = (
        Page.objects.filter(visible_pages_q(author), pk=page_id)
        .select_related("owner")
        .select_for_update(of=("self",), no_key=True)
        .first()
    )
    if page is None:
        raise ValidationFailed.field("page", "Page not found.")
    if page.owner_id != author.pk:
        raise PermissionDeniedError("You may only post from your own pages.")
    if page_is_blocked(page):
        raise PermissionDeniedError("This page is blocked.")
    return page


def _locked_posts(queryset: QuerySet[Post]) -> QuerySet[Post]:
    return queryset.select_related("page").select_for_update(of=("self",), no_key=True)


def _readable_parent(*, author: User, reply_to_id: int) -> Post:
    parent = _locked_posts(Post.objects.filter(readable_posts_q(author), pk=reply_to_id)).first()
    if parent is None:
        raise ValidationFailed.field("reply_to", "Post not found.")
    return parent


@transaction.atomic
def post_create(*, author: User, page_id: int, content: str, reply_to_id: int | None = None) -> Post:
    """Publish a post (or a reply) from one of the author's pages."""
    content = clean_content(content)
    page = _own_postable_page(author=author, page_id=page_id)
    parent = _readable_parent(author=author, reply_to_id=reply_to_id) if reply_to_id is not None else None
    post = Post.objects.create(page=page, content=content, reply_to=parent)
    if parent is not None:
        Post.objects.filter(pk=parent.pk).update(replies_count=F("replies_count") + 1)
    append_event(
        PostCreated(
            post_id=post.pk,
            page_id=page.pk,
            page_owner_id=page.owner_id,
            page_is_private=page.is_private,
            reply_to_id=parent.pk if parent else None,
            reply_to_page_id=parent.page_id if parent else None,
        ),
        actor_id=author.pk,
    )
    return post


@transaction.atomic
def post_update(*, actor: User, post_id: int, content: str) -> Post:
    """Change a post's content; only its page's owner may, and not while the page is blocked."""
    content = clean_content(content)
    post = _locked_posts(Post.objects.filter(readable_posts_q(actor), pk=post_id)).first()
    if post is None:
        raise NotFound("Post not found.")
    if post.page.owner_id != actor.pk:
        raise PermissionDeniedError("Only the page's owner may edit its posts.")
    if page_is_blocked(post.page):
        raise PermissionDeniedError("This page is blocked.")
    post.content = content
    post.save(update_fields=["content", "updated_at"])
    append_event(
        PostUpdated(post_id=post.pk, page_id=post.page_id, page_owner_id=post.page.owner_id),
        actor_id=actor.pk,
    )
    return post


def _deletable_post_parent_id(*, actor: User, post_id: int) -> int | None:
    """Checks (without locking) that the actor may delete the post; returns its parent id."""
    found = Post.objects.filter(readable_posts_q(actor), pk=post_id).select_related("page").first()
    if found is None:
        raise NotFound("Post not found.")
    if found.page.owner_id != actor.pk and not actor.is_staff_role:
        raise PermissionDeniedError("Only the page's owner or staff may delete this post.")
    return found.reply_to_id


@transaction.atomic
def post_delete(*, actor: User, post_id: int, reason: str = "") -> None:
    """Delete a post (its owner, or staff); replies stay, detached from it."""
    parent_id = _deletable_post_parent_id(actor=actor, post_id=post_id)
    # The parent is locked before the post (parent-first order, see the module docstring).
    parent = _locked_posts(Post.objects.filter(pk=parent_id)).first() if parent_id else None
    # FOR UPDATE (not NO KEY): waits out likes and replies in flight, so the counts are final.
    post = Post.objects.filter(pk=post_id).select_related("page").select_for_update(of=("self",)).first()
    if post is None:
        raise NotFound("Post not found.")
    # A parent deleted meanwhile has already detached this post (reply_to set to NULL).
    if parent is not None and post.reply_to_id == parent.pk:
        Post.objects.filter(pk=parent.pk).update(replies_count=F("replies_count") - 1)
    event = PostDeleted(
        post_id=post.pk,
        page_id=post.page_id,
        page_owner_id=post.page.owner_id,
        reply_to_id=post.reply_to_id,
        reply_to_page_id=parent.page_id if parent is not None and post.reply_to_id else None,
        likes_count=post.likes_count,
        replies_count=post.replies_count,
        by_staff=post.page.owner_id != actor.pk,
        reason=reason,
    )
    post.delete()
    append_event(event, actor_id=actor.pk)


def _insert_like(*, user_id: int, post_id: int) -> bool:
    """INSERT .. ON CONFLICT DO NOTHING; true when a row was really inserted."""
    table = Like._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, post_id, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (user_id, post_id) DO NOTHING RETURNING id",
            [user_id, post_id, timezone.now()],
        )
        return cursor.fetchone() is not None


def _add_to_likes(post: Post, delta: int) -> None:
    """`post` is locked, so the count it was loaded with is current: no re-read."""
    Post.objects.filter(pk=post.pk).update(likes_count=F("likes_count") + delta)
    post.likes_count += delta


def _like_payload(cls: type[PostLiked | PostUnliked], *, post: Post, user: User) -> PostLiked | PostUnliked:
    return cls(post_id=post.pk, page_id=post.page_id, page_owner_id=post.page.owner_id, user_id=user.pk)


@transaction.atomic
def post_like(*, user: User, post_id: int) -> Post:
    """Like a readable post; liking it again changes nothing and appends nothing."""
    post = _locked_posts(Post.objects.filter(readable_posts_q(user), pk=post_id)).first()
    if post is None:
        raise NotFound("Post not found.")
    if _insert_like(user_id=user.pk, post_id=post.pk):
        _add_to_likes(post, +1)
        append_event(_like_payload(PostLiked, post=post, user=user), actor_id=user.pk)
    return post


@transaction.atomic
def post_unlike(*, user: User, post_id: int) -> Post:
    """Take a like back (also from a post no longer readable); no like, no change."""
    liked = Exists(Like.objects.filter(post=OuterRef("pk"), user=user))
    readable = readable_posts_q(user)
    # Staff read every post: their condition is the empty Q(), and `Q() | x` is x, not "any".
    post = _locked_posts(Post.objects.filter(readable | Q(liked) if readable else Q(), pk=post_id)).first()
    if post is None:
        raise NotFound("Post not found.")
    deleted, _ = Like.objects.filter(user=user, post=post).delete()
    if deleted:
        _add_to_likes(post, -1)
        append_event(_like_payload(PostUnliked, post=post, user=user), actor_id=user.pk)
    return post
