"""App config for the Portico project package."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DashboardConfig(AppConfig):
    """Registers the role groups after every migrate."""

    name = "dashboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.roles import ensure_role_groups

        post_migrate.connect(ensure_role_groups, sender=self)
