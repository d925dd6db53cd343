"""Print a new API token for a user, for scripts and the class."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.operations import issue_token
from core.errors import Conflict


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (only the hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="A name to recognise the token by.")
        parser.add_argument("--expires-in-days", type=int, default=None, help="Omit for no expiry.")

    def handle(self, *args, username: str, name: str, expires_in_days: int | None, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be 1 or more")
        expires = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            _token, plain = issue_token(user, name, expires, actor=None, source="cli")
        except Conflict as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(plain)
