"""Create the admin account from INNOTTER_ADMIN_EMAIL / INNOTTER_ADMIN_PASSWORD if it is missing."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core_app.common.exceptions import ApplicationError
from core_app.ops.services import admin_ensure


class Command(BaseCommand):
    help = "Create the admin account from INNOTTER_ADMIN_EMAIL / INNOTTER_ADMIN_PASSWORD if missing."

    def handle(self, *args: Any, **options: Any) -> None:
        email = os.environ.get("INNOTTER_ADMIN_EMAIL", "").strip()
        password = os.environ.get("INNOTTER_ADMIN_PASSWORD", "")
        if not email or not password:
            raise CommandError("INNOTTER_ADMIN_EMAIL and INNOTTER_ADMIN_PASSWORD must both be set")
        try:
            result = admin_ensure(email=email, password=password)
        except ApplicationError as exc:
            raise CommandError(f"cannot create the admin account: {exc.message} {exc.details}") from exc
        if result.created:
            self.stdout.write(f"admin account {result.user.email} created")
        elif result.promoted:
            self.stdout.write(f"existing user {result.user.email} promoted to admin")
        else:
            self.stdout.write(f"admin account {result.user.email} already exists")
