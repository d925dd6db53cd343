"""Fixtures of the containers tests: containers created (not started) on the real engine, and a fresh client cache."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_engine_clients():
    """Cached clients must not leak between tests that add or delete engines."""
    from containers.engines import forget_clients

    forget_clients()
    yield
    forget_clients()


@pytest.fixture
def create_container(docker_sdk, test_image, request) -> Iterator[Callable]:
    """Create (without starting) test containers on network none; removed after the test."""
    made = []
    prefix = "portico-c-" + request.node.name[:24].replace("[", "-").replace("]", "").lower()

    def create(command: str | list[str], name: str | None = None, **kwargs):
        container = docker_sdk.containers.create(
            test_image,
            command,
            name=name or f"{prefix}-{len(made)}-{os.getpid()}",
            network_mode=kwargs.pop("network_mode", "none"),
            init=True,
            labels={"portico.test": "1", **kwargs.pop("labels", {})},
            **kwargs,
        )
        made.append(container)
        return container

    yield create
    for container in made:
        with contextlib.suppress(Exception):
            container.remove(force=True)


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``check`` until it is true (for container state changes that take a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_log(container, text: str, timeout: float = 15.0) -> None:
    """Block until the container has printed ``text``."""
    wait_until(lambda: text in container.logs().decode(), timeout, f"{text!r} in the log")
