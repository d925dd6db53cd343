"""What the publishers and the operations over them share: the Publisher protocol, its error, the apply lock's
refusal and who asked (kept apart so that operations and the NPM publisher need not import each other)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from routes.schemas import ConfigDocument

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

type Actor = User | AnonymousUser | None  # who asked: request.user, a token's user, or None (system)


class PublishError(Exception):
    """A publisher could not make the live side equal the desired files (and restored the previous ones)."""

    def __init__(self, message: str, output: str = "", rolled_back: bool = False):
        super().__init__(message)
        self.message = message
        self.output = output
        # True when the new config had gone live and was taken back; False when the live side never changed.
        self.rolled_back = rolled_back


class ApplyBusy(Exception):
    """Another apply holds the lock longer than PORTICO_APPLY_LOCK_TIMEOUT (the API answers 409)."""


class Publisher(Protocol):
    """Renders the desired state to files and makes the live side equal them (nginx or NPM)."""

    name: str

    def render(self, document: ConfigDocument) -> dict[str, str]: ...
    def warnings(self, document: ConfigDocument) -> list[str]: ...
    def current(self) -> dict[str, str]: ...
    def push(self, desired: dict[str, str], previous: dict[str, str]) -> str: ...

    # Optional: ``errors(document) -> list[str]``, what the publisher cannot express; apply refuses while any.
