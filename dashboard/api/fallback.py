"""The API's error shape for the answers no endpoint gives: an unknown path under /api/ or a method a path
does not take. Django answers those with HTML pages and ninja with plain text; scripts get JSON like every
other error (``{"detail", "errors"}``)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.api import error_response

_REWRITTEN = (400, 404, 405)


class ApiErrorShapeMiddleware:
    """Rewrite non-JSON 400, 404 and 405 answers under /api/ into the API's error shape (Allow kept)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code not in _REWRITTEN
            or not request.path_info.startswith("/api/")
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        where = f"{request.method} {request.path_info}"
        if response.status_code == 404:
            detail = f"No such API endpoint: {where}. The endpoints are listed at /api/v1/docs."
        elif response.status_code == 405:
            allowed = response.get("Allow", "")
            detail = f"{request.method} is not allowed on {request.path_info}" + (
                f"; it takes {allowed}." if allowed else "."
            )
        else:
            detail = f"Bad request: {where}."
        answer = error_response(response.status_code, detail)
        if "Allow" in response:
            answer["Allow"] = response["Allow"]
        return answer
