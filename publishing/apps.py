"""App config for publishing: plan, apply and roll back the desired state into nginx or NPM, and the revisions."""

from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"

    def ready(self) -> None:
        """A certificate the worker renews is published as a revision of its own (operations.on_certificate_issued);
        the containers pages learn the routes and lints of each container from lints.ContainerRoutes (containers/
        sits below publishing and does not read them itself)."""
        # Imported here: these import models, which the app registry must have loaded first.
        from certificates.signals import certificate_issued
        from containers import status
        from publishing import lints, operations

        certificate_issued.connect(operations.on_certificate_issued, dispatch_uid="publishing.certificate_issued")
        status.register(lints.ContainerRoutes())
