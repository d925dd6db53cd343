"""The database Portico runs on: the one DATABASE_URL names (PostgreSQL for scale-out), else SQLite in VAR_DIR.

scripts/test runs this file on both engines (pytest.mark.postgres), so the PostgreSQL pass cannot quietly
run on SQLite, and a Portico set up the way scripts/serve does it (migrate, ensure_admin) works on either.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection

from tests.support import POSTGRES_SCHEMES, PorticoServer

pytestmark = pytest.mark.postgres


@pytest.mark.django_db
def test_the_suite_runs_on_the_database_that_database_url_names():
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(POSTGRES_SCHEMES):
        assert connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version_num')::int, current_database()")
            version, name = cursor.fetchone()
        assert version >= 130000  # the suite drops its servers' databases WITH (FORCE)
        assert name == connection.settings_dict["NAME"] and name.startswith("test_")
        # A connection per request (ASGI: a request's thread ends with it), so a restarted server costs no
        # failed request and no connection is left in a thread that is gone.
        assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0
    else:
        assert connection.vendor == "sqlite"
        assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_portico_set_up_as_scripts_serve_does_gets_a_database_of_its_own_on_the_same_engine(tmp_path):
    server = PorticoServer(tmp_path)
    for args in (("migrate", "--noinput", "-v0"), ("ensure_admin",), ("migrate", "--check", "-v0")):
        proc = server.manage(*args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    proc = server.manage(
        "shell",
        "-c",
        "from django.db import connection as c; from django.contrib.auth.models import User; "
        "print(c.vendor, c.settings_dict['NAME'], User.objects.filter(is_superuser=True).count())",
    )
    assert proc.returncode == 0, proc.stderr
    vendor, name, admins = proc.stdout.strip().splitlines()[-1].split()  # (shell may say more first)
    assert vendor == connection.vendor
    assert admins == "1"
    if vendor == "postgresql":
        assert name.startswith("portico_srv_")  # not the test database, nor the cluster's main one
    else:
        assert name == str(tmp_path / "portico.sqlite3")
