"""Create the first admin when no admin exists yet (run by the serve script after migrate)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.operations import ensure_first_admin


class Command(BaseCommand):
    help = "Create the first admin user (password from PORTICO_ADMIN_PASSWORD, else random and printed once)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        password = settings.PORTICO_ADMIN_PASSWORD
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        if ensure_first_admin(username, password) is None:
            self.stdout.write("An admin exists already; nothing to do.")
            return
        self.stdout.write(self.style.SUCCESS(f"Created the admin user {username!r}."))
        if generated:
            self.stdout.write(f"  Its password, shown only this once: {password}")
            self.stdout.write("  (set PORTICO_ADMIN_PASSWORD before the first run to choose it yourself)")
