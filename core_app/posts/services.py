"""Writes of posts and likes; each service appends its event last, in its own transaction.

Lock order, to stay free of deadlocks: a page before its posts, a parent post before its
replies. Likes lock their post first, so the counters and the counts a deletion reports
are exact under concurrency.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from core_app.common.exceptions import NotFound, PermissionDeniedError, ValidationFailed
from core_app.common.rows import Columns, cache_related
from core_app.pages.models import Page
from core_app.pages.selectors import page_with_owner
from core_app.pages.visibility import can_read_posts_of, can_see_page, page_is_blocked, readable_posts_q
from core_app.posts.models import CONTENT_MAX_LENGTH, Post
from core_app.users.models import User
from events.append import append_event
from events.contracts import PostCreated, PostDeleted, PostLiked, PostUnliked, PostUpdated


def clean_content(content: str) -> str:
    """Trimmed content, 1..CONTENT_MAX_LENGTH characters, or a validation error."""
    content = content.strip()
    if not 1 <= len(content) <= CONTENT_MAX_LENGTH:
        raise ValidationFailed.field("content", f"Must be 1 to {CONTENT_MAX_LENGTH} characters long.")
    return content


POST, PAGE, USER = Columns.of(Post), Columns.of(Page), Columns.of(User)
# The statements of the hottest writes (post, like), written once: building them through the ORM
# cost more CPU than the rest of the request.
LOCKED_POST_SQL = f"""
    SELECT {POST.select("post")}, {PAGE.select("page")}, {USER.select("owner")}
    FROM posts_post AS post
    JOIN pages_page AS page ON page.id = post.page_id
    JOIN users_user AS owner ON owner.id = page.owner_id
    WHERE post.id = %s FOR NO KEY UPDATE OF post
"""
INSERT_POST_SQL = """
    INSERT INTO posts_post (page_id, content, reply_to_id, likes_count, replies_count, created_at, updated_at)
    VALUES (%s, %s, %s, 0, 0, %s, %s) RETURNING id
"""
# The like (or unlike) and the count in one round trip; no row back when nothing changed.
LIKE_SQL = """
    WITH liked AS (
        INSERT INTO posts_like (user_id, post_id, created_at) VALUES (%s, %s, %s)
        ON CONFLICT (user_id, post_id) DO NOTHING RETURNING post_id)
    UPDATE posts_post AS post SET likes_count = post.likes_count + 1
    FROM liked WHERE post.id = liked.post_id RETURNING post.likes_count
"""
UNLIKE_SQL = """
    WITH unliked AS (DELETE FROM posts_like WHERE user_id = %s AND post_id = %s RETURNING post_id)
    UPDATE posts_post AS post SET likes_count = post.likes_count - 1
    FROM unliked WHERE post.id = unliked.post_id RETURNING post.likes_count
"""


def _fetch_one(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row


def _page_with_owner(row: tuple[Any, ...], start: int = 0) -> Page:
    page = PAGE.load(row, start)
    cache_related(page, "owner", USER.load(row, start + len(PAGE)))
    return page


def _locked_post_with_owner(post_id: int) -> Post | None:
    """The post, locked, with its page and the page's owner (what `can_read_posts_of` reads)."""
    row = _fetch_one(LOCKED_POST_SQL, [post_id])
    if row is None:
        return None
    post = POST.load(row)
    cache_related(post, "page", _page_with_owner(row, len(POST)))
    return post


def _own_postable_page(*, author: User, page_id: int) -> Page:
    """The author's page, locked against a concurrent block or deletion.

    Looked up by id alone (a cheaper query than one with the visibility rule): another's
    page that the author may not see is answered exactly as a missing one.
    """
    page = page_with_owner(page_id, lock=True)
    if page is None or not can_see_page(author, page):
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


def _insert_post(*, page: Page, content: str, parent: Post | None) -> Post:
    now = timezone.now()
    post = Post(page=page, content=content, reply_to=parent, created_at=now, updated_at=now)
    row = _fetch_one(INSERT_POST_SQL, [page.pk, content, post.reply_to_id, now, now])
    assert row is not None  # INSERT .. RETURNING answers a row
    post.pk = row[0]
    post._state.adding = False
    return post


@transaction.atomic
def post_create(*, author: User, page_id: int, content: str, reply_to_id: int | None = None) -> Post:
    """Publish a post (or a reply) from one of the author's pages."""
    content = clean_content(content)
    page = _own_postable_page(author=author, page_id=page_id)
    parent = _readable_parent(author=author, reply_to_id=reply_to_id) if reply_to_id is not None else None
    post = _insert_post(page=page, content=content, parent=parent)
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


def _changed_likes(post: Post, sql: str, params: list[Any]) -> bool:
    """Run LIKE_SQL or UNLIKE_SQL; when a like was added or taken, `post` gets its new count."""
    row = _fetch_one(sql, params)
    if row is None:
        return False
    post.likes_count = row[0]
    return True


def _like_payload(cls: type[PostLiked | PostUnliked], *, post: Post, user: User) -> PostLiked | PostUnliked:
    return cls(post_id=post.pk, page_id=post.page_id, page_owner_id=post.page.owner_id, user_id=user.pk)


@transaction.atomic
def post_like(*, user: User, post_id: int) -> Post:
    """Like a readable post; liking it again changes nothing and appends nothing."""
    post = _locked_post_with_owner(post_id)
    if post is None or not can_read_posts_of(user, post.page):
        raise NotFound("Post not found.")
    if _changed_likes(post, LIKE_SQL, [user.pk, post.pk, timezone.now()]):
        append_event(_like_payload(PostLiked, post=post, user=user), actor_id=user.pk)
    return post


@transaction.atomic
def post_unlike(*, user: User, post_id: int) -> Post:
    """Take a like back (also from a post no longer readable); no like, no change."""
    post = _locked_post_with_owner(post_id)
    if post is None:
        raise NotFound("Post not found.")
    unliked = _changed_likes(post, UNLIKE_SQL, [user.pk, post.pk])
    if not unliked and not can_read_posts_of(user, post.page):
        raise NotFound("Post not found.")
    if unliked:
        append_event(_like_payload(PostUnliked, post=post, user=user), actor_id=user.pk)
    return post
