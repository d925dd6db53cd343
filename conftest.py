"""The suite's settings and fixture modules; helpers the tests import are in tests/support.py, never in a conftest.

A missing real service (dockerd, nginx, chromium, PostgreSQL...) skips its tests loudly on a developer machine; with
CI=true it fails them (tests.support.need).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PORTICO_TESTING", "true")

# Sync Playwright runs an event loop in the test thread; live_server's DB access must be allowed there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Plain helper modules with asserts of their own: pytest explains their failures as it does the tests'.
pytest.register_assert_rewrite("tests.support", "publishing.tests.support")

pytest_plugins = [
    "tests.fixtures.accounts",
    "tests.fixtures.browser",
    "tests.fixtures.docker_engine",
    "tests.fixtures.nginx",
    "tests.fixtures.postgres",
    "tests.fixtures.servers",
    "publishing.tests.fixtures",
    "publishing.tests.npm_fake",
    "publishing.tests.npm_real",
    "certificates.tests.acme_fixtures",
]
