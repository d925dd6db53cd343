"""App config of the core app."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    """Registers the role groups after every migrate."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # roles imports the auth models, which exist only once the app registry is ready.
        from core.roles import ensure_role_groups

        post_migrate.connect(ensure_role_groups, sender=self)
