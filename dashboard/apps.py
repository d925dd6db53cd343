"""App config for the Portico project package."""

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The project shell: its templates, the doctor and openapi commands, and the migrations that once held the
    models now in core, accounts and lab."""

    name = "dashboard"
    default_auto_field = "django.db.models.BigAutoField"
