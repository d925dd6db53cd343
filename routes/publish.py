"""PLACEHOLDER from the npm stream until the core stream lands routes/publish.py: on a conflict keep core's file."""

from __future__ import annotations


class PublishError(Exception):
    """A publisher failed; ``message`` is for people, ``output`` is the tool's own words."""

    def __init__(self, message: str, output: str = "", rolled_back: bool = False):
        super().__init__(message)
        self.message = message
        self.output = output
        self.rolled_back = rolled_back
