"""Sealing secrets at rest: a key file made once with mode 0600, or the key from the environment."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from certificates import sealing


@pytest.fixture
def fresh_var(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.PORTICO_ENCRYPTION_KEY = ""
    return tmp_path


def test_the_generated_key_file_is_private_and_reused(fresh_var):
    sealed = sealing.seal("secret text")
    path = fresh_var / "encryption_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "secret text" not in sealed
    first_key = path.read_bytes()
    assert sealing.unseal(sealing.seal("again")) == "again"
    assert path.read_bytes() == first_key
    assert sealing.unseal(sealed) == "secret text"


def test_a_key_from_the_environment_wins_and_another_key_cannot_open(fresh_var, settings):
    sealed_with_file = sealing.seal("one")
    settings.PORTICO_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(sealing.SealError, match="PORTICO_ENCRYPTION_KEY"):
        sealing.unseal(sealed_with_file)
    assert sealing.unseal(sealing.seal("two")) == "two"


def test_a_malformed_key_fails_loudly(fresh_var, settings):
    settings.PORTICO_ENCRYPTION_KEY = "not-a-fernet-key"
    with pytest.raises(ImproperlyConfigured, match="Fernet key"):
        sealing.seal("x")
