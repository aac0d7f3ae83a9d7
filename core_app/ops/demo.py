"""A small, believable demo dataset, written through the services so every event is in the log."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from core_app.pages.follows import follow_create, follow_requests_accept
from core_app.pages.models import Page
from core_app.pages.services import page_create
from core_app.posts.models import Post
from core_app.posts.services import post_create, post_like
from core_app.users.models import User
from core_app.users.services import user_register

DEMO_DOMAIN = "demo.innotter.local"
DEFAULT_PASSWORD = "Demo-pass-2024"

PEOPLE = [
    ("alice", "Alice", "Moreau"),
    ("bruno", "Bruno", "Silva"),
    ("chen", "Chen", "Wei"),
    ("dana", "Dana", "Kowalski"),
    ("emeka", "Emeka", "Okafor"),
    ("freya", "Freya", "Lindqvist"),
]
# owner, handle, name, description, tags, private
PAGES = [
    (
        "alice",
        "alice-bakes",
        "Alice Bakes",
        "Sourdough, laminated dough and honest failures.",
        ["baking", "food"],
        False,
    ),
    ("alice", "alice-notes", "Alice's notebook", "Drafts for friends only.", ["journal"], True),
    (
        "bruno",
        "trail-runs",
        "Trail Runs",
        "Weekend routes around the valley.",
        ["running", "outdoors"],
        False,
    ),
    ("chen", "night-sky", "Night Sky", "Astrophotography from a balcony.", ["astronomy", "photo"], False),
    ("dana", "dana-reads", "Dana Reads", "One book a week, short reviews.", ["books"], False),
    ("emeka", "emeka-builds", "Emeka Builds", "Small electronics projects.", ["electronics", "diy"], True),
    (
        "freya",
        "freya-garden",
        "Freya's Garden",
        "A tiny urban garden, season by season.",
        ["garden", "outdoors"],
        False,
    ),
]
POSTS = {
    "alice-bakes": ["Day 3 of the new starter: bubbles!", "Croissants, attempt #4. Better lamination."],
    "alice-notes": ["Thinking about opening a weekend stall."],
    "trail-runs": ["18 km ridge loop this morning, fog all the way up.", "New shoes, same blisters."],
    "night-sky": [
        "Saturn's rings from the balcony, 250 stacked frames.",
        "Clouds again. Processing old data.",
    ],
    "dana-reads": ["This week: 'The Left Hand of Darkness'. Still thinking about it."],
    "emeka-builds": ["Soldered my first SMD board without tears."],
    "freya-garden": ["First tomatoes of the season!", "Basil is winning, mint is winning more."],
}
# follower, page handle (a private page gets a request, accepted where marked below)
FOLLOWS = [
    ("bruno", "alice-bakes"),
    ("chen", "alice-bakes"),
    ("dana", "alice-bakes"),
    ("alice", "trail-runs"),
    ("freya", "trail-runs"),
    ("alice", "night-sky"),
    ("emeka", "night-sky"),
    ("chen", "dana-reads"),
    ("bruno", "freya-garden"),
    ("dana", "freya-garden"),
    ("bruno", "alice-notes"),
    ("freya", "alice-notes"),
    ("chen", "emeka-builds"),
]
ACCEPTED_REQUESTS = [("alice-notes", "bruno"), ("emeka-builds", "chen")]
# replier, their page, page whose first post they answer, text
REPLIES = [
    ("bruno", "trail-runs", "alice-bakes", "Save me a loaf after Sunday's run?"),
    ("alice", "alice-bakes", "night-sky", "Incredible detail. Which lens?"),
    ("freya", "freya-garden", "trail-runs", "That fog photo looks unreal."),
]
LIKES = [
    ("bruno", "alice-bakes"),
    ("chen", "alice-bakes"),
    ("dana", "alice-bakes"),
    ("alice", "night-sky"),
    ("emeka", "night-sky"),
    ("alice", "trail-runs"),
    ("bruno", "freya-garden"),
]


@dataclass
class DemoData:
    users: dict[str, User] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)
    posts: dict[str, list[Post]] = field(default_factory=dict)


def demo_email(username: str) -> str:
    return f"{username}@{DEMO_DOMAIN}"


def demo_exists() -> bool:
    return User.objects.filter(email__iexact=demo_email(PEOPLE[0][0])).exists()


def _register(data: DemoData, password: str) -> None:
    for username, first, last in PEOPLE:
        data.users[username] = user_register(
            username=username, email=demo_email(username), password=password, first_name=first, last_name=last
        )


def _pages_and_posts(data: DemoData) -> None:
    for owner, handle, name, description, tags, private in PAGES:
        page = page_create(
            owner=data.users[owner],
            name=name,
            uuid=handle,
            description=description,
            tags=tags,
            is_private=private,
        )
        data.pages[handle] = page
        data.posts[handle] = [
            post_create(author=data.users[owner], page_id=page.pk, content=text) for text in POSTS[handle]
        ]


def _follows(data: DemoData) -> None:
    for follower, handle in FOLLOWS:
        follow_create(page=data.pages[handle], user=data.users[follower])
    for handle, follower in ACCEPTED_REQUESTS:
        page = data.pages[handle]
        follow_requests_accept(page=page, actor=page.owner, user_ids=[data.users[follower].pk])


def _conversation(data: DemoData) -> None:
    for replier, own_handle, handle, text in REPLIES:
        post_create(
            author=data.users[replier],
            page_id=data.pages[own_handle].pk,
            content=text,
            reply_to_id=data.posts[handle][0].pk,
        )
    for liker, handle in LIKES:
        post_like(user=data.users[liker], post_id=data.posts[handle][0].pk)


@transaction.atomic
def seed_demo(*, password: str = DEFAULT_PASSWORD) -> DemoData:
    """Create the demo users, pages, follows, posts, replies and likes (one transaction)."""
    data = DemoData()
    _register(data, password)
    _pages_and_posts(data)
    _follows(data)
    _conversation(data)
    return data
