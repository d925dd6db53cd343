"""App config for routes: the desired state (domains, routes, targets) and every change of it."""

from django.apps import AppConfig


class RoutesConfig(AppConfig):
    name = "routes"
