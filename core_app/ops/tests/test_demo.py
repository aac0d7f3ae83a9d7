from __future__ import annotations

from collections import Counter

import pytest
from django.core.management import call_command

from core_app.ops import demo
from core_app.pages.models import Follow, FollowStatus, Page
from core_app.posts.models import Like, Post
from core_app.users.models import User
from events.models import StoredEvent


@pytest.mark.django_db
def test_seed_demo_builds_the_dataset_through_the_services(capsys) -> None:
    call_command("seed_demo")

    assert User.objects.count() == len(demo.PEOPLE)
    assert Page.objects.count() == len(demo.PAGES)
    assert Page.objects.filter(is_private=True).count() == 2
    pending = len([f for f in demo.FOLLOWS if f[1] in {"alice-notes", "emeka-builds"}]) - len(
        demo.ACCEPTED_REQUESTS
    )
    assert Follow.objects.filter(status=FollowStatus.PENDING).count() == pending
    assert Follow.objects.filter(status=FollowStatus.ACCEPTED).count() == len(demo.FOLLOWS) - pending
    assert Post.objects.filter(reply_to__isnull=False).count() == len(demo.REPLIES)
    assert Like.objects.count() == len(demo.LIKES)
    bakes = Page.objects.get(uuid="alice-bakes")
    assert bakes.followers_count == 3
    first = Post.objects.filter(page=bakes).order_by("id").first()
    assert first is not None
    assert (first.likes_count, first.replies_count) == (3, 1)

    types = Counter(StoredEvent.objects.values_list("type", flat=True))
    assert types["user.registered"] == len(demo.PEOPLE)
    assert types["page.created"] == len(demo.PAGES)
    assert types["post.created"] == Post.objects.count()
    assert types["post.liked"] == len(demo.LIKES)
    assert types["follow.requested"] == pending + len(demo.ACCEPTED_REQUESTS)
    assert "password: Demo-pass-2024" in capsys.readouterr().out


@pytest.mark.django_db
def test_seed_demo_runs_once(capsys) -> None:
    call_command("seed_demo", "--password", "Other-demo-pass-1")
    events = StoredEvent.objects.count()

    call_command("seed_demo")

    assert StoredEvent.objects.count() == events
    assert "already there" in capsys.readouterr().out
    assert User.objects.get(username="alice").check_password("Other-demo-pass-1")
