"""The only module that imports the Docker SDK: typed results and our own errors."""

from __future__ import annotations

import docker
import docker.errors
import requests.exceptions
from django.conf import settings


class DockerUnavailable(Exception):
    """The engine cannot be reached; ``reason`` says what a person can do about it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _explain(url: str, exc: Exception) -> str:
    text = str(exc)
    if "No such file" in text or "FileNotFoundError" in text:
        return f"no Docker socket at {url}: is dockerd running? (start it, or set PORTICO_DOCKER_URL)"
    if "Permission denied" in text:
        return f"permission denied on {url}: add Portico's user to the docker group"
    if "Connection refused" in text:
        return f"connection refused by {url}: is dockerd running and listening there?"
    if "timed out" in text.lower():
        return f"{url} did not answer in time"
    return f"{url}: {text}"


class DockerClient:
    """One Docker engine, reached through the SDK with explicit timeouts."""

    def __init__(self, url: str | None = None, timeout: int | None = None):
        self.url = url or settings.PORTICO_DOCKER_URL
        self.timeout = timeout or settings.PORTICO_DOCKER_TIMEOUT
        self._client: docker.DockerClient | None = None

    @property
    def sdk(self) -> docker.DockerClient:
        """The SDK client, created on first use. Raises DockerUnavailable."""
        if self._client is None:
            try:
                self._client = docker.DockerClient(base_url=self.url, timeout=self.timeout)
            except docker.errors.DockerException as exc:
                raise DockerUnavailable(_explain(self.url, exc)) from None
        return self._client

    def ping(self) -> None:
        """Return if the engine answers; raise DockerUnavailable otherwise."""
        try:
            self.sdk.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise DockerUnavailable(_explain(self.url, exc)) from None

    def close(self) -> None:
        """Release the SDK's connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None


def docker_health() -> str:
    """``ok`` or ``unavailable: <reason>`` for the default engine."""
    client = DockerClient(timeout=3)
    try:
        client.ping()
    except DockerUnavailable as exc:
        return f"unavailable: {exc.reason}"
    finally:
        client.close()
    return "ok"
