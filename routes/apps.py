"""App config for routes: domains, routes, targets, rendering, publishing and revisions."""

from django.apps import AppConfig


class RoutesConfig(AppConfig):
    name = "routes"

    def ready(self) -> None:
        """A certificate the worker renews is published as a revision of its own (publish.on_certificate_issued)."""
        from certificates.signals import certificate_issued
        from routes import publish

        certificate_issued.connect(publish.on_certificate_issued, dispatch_uid="routes.publish.certificate_issued")
