"""App config of the lab app."""

from django.apps import AppConfig


class LabConfig(AppConfig):
    """The class lab: `manage.py lab` and the guide page."""

    name = "lab"
    default_auto_field = "django.db.models.BigAutoField"
