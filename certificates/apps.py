"""App config for certificates: TLS certificates from ACME or uploaded, their keys sealed at rest, renewal."""

from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "certificates"
