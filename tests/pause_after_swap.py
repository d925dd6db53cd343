"""Settings for a Portico that pauses every nginx apply between the swap and the reload, so that a fault test can
kill it there (tests/test_faults.py): Portico's own settings plus an app that gives the backend's push a pause."""

import time

from django.apps import AppConfig

from dashboard.settings import *  # noqa: F403  (Portico's settings, unchanged)
from dashboard.settings import INSTALLED_APPS

PAUSE_SECONDS = 120


class PauseAfterSwap(AppConfig):
    """Wraps Backend.push so that it waits PAUSE_SECONDS after the swap (the ``pause`` the wrapper offers)."""

    name = "tests"
    label = "pause_after_swap"

    def ready(self) -> None:
        from publishing.nginx.backends import Backend

        push = Backend.push

        def paused(self, desired, previous, pause=None):
            return push(self, desired, previous, pause=lambda: time.sleep(PAUSE_SECONDS))

        Backend.push = paused


INSTALLED_APPS = [*INSTALLED_APPS, "tests.pause_after_swap.PauseAfterSwap"]
