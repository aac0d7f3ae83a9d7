"""The digest e-mail: raw MIME (text and HTML parts) with RFC 8058 one-click unsubscribe headers."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from html import escape

from django.conf import settings

from core_app.notifications.services import unsubscribe_url
from core_app.users.models import User
from projections.digests.builder import Digest
from projections.notifications import excerpt

ACTIVITY = (
    ("new_followers", "new follower", "new followers"),
    ("follow_requests", "follow request waiting", "follow requests waiting"),
    ("likes_received", "like on your posts", "likes on your posts"),
)


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def post_link(post_id: int) -> str:
    return f"{settings.APP_BASE_URL.rstrip('/')}/posts/{post_id}"


def subject_of(digest: Digest, period: str) -> str:
    posts = len(digest.posts) + digest.more
    news = _plural(posts, "new post", "new posts") if posts else "news from your pages"
    return f"Your {period} Innotter digest: {news}"


def activity_lines(digest: Digest) -> list[str]:
    return [
        _plural(getattr(digest, name), one, many) for name, one, many in ACTIVITY if getattr(digest, name)
    ]


def text_body(user: User, digest: Digest, unsubscribe: str) -> str:
    lines = [f"Hi {user.first_name or user.username},", ""]
    for post in digest.posts:
        lines += [f"{post.page.name}: {excerpt(post.content)}", f"  {post_link(post.pk)}", ""]
    if digest.more:
        lines += [f"...and {_plural(digest.more, 'more post', 'more posts')}.", ""]
    if activity := activity_lines(digest):
        lines += ["On your pages: " + ", ".join(activity) + ".", ""]
    lines += ["You get this digest because of your e-mail settings.", f"Unsubscribe: {unsubscribe}", ""]
    return "\n".join(lines)


def html_body(user: User, digest: Digest, unsubscribe: str) -> str:
    parts = [f"<p>Hi {escape(user.first_name or user.username)},</p>"]
    if digest.posts:
        items = "".join(
            f"<li><strong>{escape(post.page.name)}</strong>: {escape(excerpt(post.content))} "
            f'<a href="{escape(post_link(post.pk))}">Read it</a></li>'
            for post in digest.posts
        )
        parts.append(f"<ul>{items}</ul>")
    if digest.more:
        parts.append(f"<p>…and {escape(_plural(digest.more, 'more post', 'more posts'))}.</p>")
    if activity := activity_lines(digest):
        parts.append(f"<p>On your pages: {escape(', '.join(activity))}.</p>")
    parts.append(
        "<p>You get this digest because of your e-mail settings. "
        f'<a href="{escape(unsubscribe)}">Unsubscribe</a></p>'
    )
    return "".join(parts)


def compose_digest(user: User, digest: Digest, period: str) -> bytes:
    """The whole message as bytes for SES SendRawEmail."""
    unsubscribe = unsubscribe_url(user.pk)
    message = EmailMessage(policy=SMTP)
    message["From"] = settings.SES_SENDER
    message["To"] = user.email
    message["Subject"] = subject_of(digest, period)
    message["Date"] = format_datetime(digest.period_end)
    domain = settings.SES_SENDER.rpartition("@")[2] or "innotter.local"
    message["Message-ID"] = make_msgid(f"digest.{user.pk}", domain=domain)
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text_body(user, digest, unsubscribe))
    message.add_alternative(html_body(user, digest, unsubscribe), subtype="html")
    return message.as_bytes()
