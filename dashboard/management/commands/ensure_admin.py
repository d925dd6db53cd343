"""Create the first admin when no admin exists yet (run by the serve script after migrate)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from core import audit
from core.roles import set_role


class Command(BaseCommand):
    help = "Create the first admin user (password from PORTICO_ADMIN_PASSWORD, else random and printed once)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists() or users.objects.filter(groups__name="admin").exists():
            self.stdout.write("An admin exists already; nothing to do.")
            return
        password = settings.PORTICO_ADMIN_PASSWORD
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        user = users.objects.create_user(username=username, password=password, is_staff=True, is_superuser=True)
        set_role(user, "admin")
        audit.record("user.create", source="cli", obj=user, after={"username": username, "role": "admin"})
        self.stdout.write(self.style.SUCCESS(f"Created the admin user {username!r}."))
        if generated:
            self.stdout.write(f"  Its password, shown only this once: {password}")
            self.stdout.write("  (set PORTICO_ADMIN_PASSWORD before the first run to choose it yourself)")
