"""App config of the accounts app."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, roles, API tokens and login."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
