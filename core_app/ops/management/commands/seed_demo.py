"""Fill the database with a small demo dataset (users, pages, follows, posts, replies, likes)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from core_app.ops.demo import DEFAULT_PASSWORD, demo_email, demo_exists, seed_demo


class Command(BaseCommand):
    help = "Create demo users, public and private pages, follows, posts, replies and likes (once)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="password of every demo user")

    def handle(self, *args: Any, **options: Any) -> None:
        if demo_exists():
            self.stdout.write("the demo data is already there; nothing to do")
            return
        data = seed_demo(password=options["password"])
        posts = sum(len(p) for p in data.posts.values())
        self.stdout.write(f"created {len(data.users)} users, {len(data.pages)} pages and {posts} posts")
        self.stdout.write(f"log in with any of: {', '.join(demo_email(u) for u in data.users)}")
        self.stdout.write(f"password: {options['password']}")
