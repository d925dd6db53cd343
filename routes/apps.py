"""App config for routes: domains, routes, targets, rendering, publishing and revisions."""

from django.apps import AppConfig


class RoutesConfig(AppConfig):
    name = "routes"

    def ready(self) -> None:
        """A certificate the worker renews is published as a revision of its own (publish.on_certificate_issued);
        the containers pages learn the routes and lints of each container from routes.lints (containers/ sits
        below routes and does not read them itself)."""
        from certificates.signals import certificate_issued
        from containers import status
        from routes import lints, publish

        certificate_issued.connect(publish.on_certificate_issued, dispatch_uid="routes.publish.certificate_issued")
        status.register(lints.ContainerRoutes())
