"""App config for routes: domains, routes, targets, rendering, publishing and revisions."""

from django.apps import AppConfig


class RoutesConfig(AppConfig):
    name = "routes"
