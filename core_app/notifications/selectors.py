"""What the next digest of a user would hold right now (the preview)."""

from __future__ import annotations

from django.db.models import Case, When
from django.utils import timezone

from core_app.posts.models import Post
from core_app.posts.selectors import with_page_and_like
from core_app.users.models import EmailFrequency, User
from projections.digests.builder import Digest, build_digests
from projections.digests.periods import Period, period_starts, slot_of


def digest_preview(*, viewer: User) -> tuple[Digest, list[Post]]:
    """The viewer's next digest as of now (daily when they are not in a digest mode), with posts."""
    period: Period = "weekly" if viewer.email_frequency == EmailFrequency.WEEKLY else "daily"
    now = timezone.now()
    # A slot after any real one: the preview never counts as "already sent in this slot".
    starts = period_starts([viewer.pk], period, slot_of(now).replace(year=now.year + 1), now)
    digest = build_digests(starts, now)[viewer.pk]
    order = Case(*[When(pk=pk, then=i) for i, pk in enumerate(digest.post_ids)], default=len(digest.post_ids))
    posts = with_page_and_like(Post.objects.filter(pk__in=[p.pk for p in digest.posts]), viewer=viewer)
    return digest, list(posts.order_by(order))
