"""ASGI entry point (not used by the default gunicorn setup)."""

import os

from django.core.asgi import get_asgi_application

from core.filemodes import restrict_umask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

restrict_umask()  # before settings create var/, the secret key and the database
application = get_asgi_application()
