"""The certificate tests read refusals in English: a test elsewhere may leave Korean active in the thread (the
test client keeps the language of its last request), and operations speak the active language."""

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _in_english():
    with translation.override("en"):
        yield
