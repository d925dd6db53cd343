"""Language handling: the UI follows the person's choice, the API always answers in English."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation

from core.api import API_PREFIX


class ApiInEnglishMiddleware:
    """Switch to English for API requests, after LocaleMiddleware picked the UI language.

    Scripts parse the API's messages; they must not change with a browser's cookie or Accept-Language.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            translation.activate("en")
            request.LANGUAGE_CODE = "en"
        return self.get_response(request)
