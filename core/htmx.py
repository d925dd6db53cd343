"""The htmx side of every page: the one fragment-or-page decision, the typed request, and domain errors on forms."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from core.errors import OperationError


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (``request.htmx``)."""

    htmx: HtmxDetails


def is_fragment(request: HttpRequest) -> bool:
    """Whether to answer with a fragment: an htmx request that is not a boosted page load."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx and not htmx.boosted)


def page_or_fragment(request: HttpRequest, template: str, fragment: str) -> str:
    """``template#fragment`` for an htmx request, the whole ``template`` otherwise."""
    return f"{template}#{fragment}" if is_fragment(request) else template


def show_on_form(form: forms.Form, exc: OperationError) -> None:
    """Put a refused operation's errors on ``form``: each on its field when the form has it, else the message.

    The operations write their messages in the active language, so the page shows them translated.
    """
    placed = False
    for error in exc.errors:
        if error["field"] in form.fields:
            form.add_error(error["field"], error["message"])
            placed = True
    if not placed:
        form.add_error(None, exc.message)
