"""App config for containers: the Docker wrapper, status, logs and actions."""

from django.apps import AppConfig


class ContainersConfig(AppConfig):
    name = "containers"
