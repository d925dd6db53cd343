"""WSGI entry point for gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

from core.filemodes import restrict_umask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

restrict_umask()  # before settings create var/, the secret key and the database
application = get_wsgi_application()
