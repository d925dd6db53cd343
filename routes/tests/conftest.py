"""Fixtures of the routes app's tests."""

from routes.tests.npm_fake import npm  # noqa: F401  (the fake or real NPM the NPM tests talk to)
