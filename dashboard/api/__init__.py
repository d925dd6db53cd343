"""The admin API: one NinjaAPI at /api/v1/, token or session auth, one JSON error shape."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import SessionAuth

from accounts.api.tokens import router as tokens_router
from accounts.api.users import router as users_router
from accounts.auth import BearerTokenAuth, authenticate_token
from certificates.api import router as certificates_router
from containers.api import router as containers_router
from containers.engines import docker_health
from core.api import IF_MATCH, ApiError, ErrorOut, django_errors, error_response, require
from core.api.audit import router as audit_router
from core.errors import INVALID_INPUT, Invalid, OperationError, field_errors
from dashboard.api.overview import router as overview_router
from publishing.api.config import router as config_router
from publishing.api.npm import router as npm_router
from publishing.api.publishing import router as publishing_router
from publishing.nginx.process import nginx_health
from routes.api import router as routes_crud_router


def _docs_auth(view: Callable) -> Callable:
    """The OpenAPI document and the docs page need a session or a token like everything else."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            header = request.headers.get("Authorization", "")
            scheme, _, plain = header.partition(" ")
            token = authenticate_token(plain.strip()) if scheme.lower() == "bearer" else None
            if token is None:
                return error_response(401, "Authentication required: log in or send Authorization: Bearer <token>.")
            request.user = token.user
        return view(request, *args, **kwargs)

    return wrapper


TOO_LONG = {
    "description": "The request line is longer than the HTTP server accepts (8,190 bytes); answered by the server "
    "in plain text, before Portico reads the request.",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


class PorticoAPI(NinjaAPI):
    """The NinjaAPI whose OpenAPI document also describes the error answers every operation can give."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(error_schema.pop("$defs", {}))
        components["ErrorOut"] = error_schema
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
        for operations in schema["paths"].values():
            for method, operation in operations.items():
                # ninja keys declared answers by int (503), these defaults by str ("503"): one key per status,
                # or the JSON lists it twice and Swagger UI refuses the document ("duplicated mapping key").
                responses = {str(status): answer for status, answer in operation.get("responses", {}).items()}
                operation["responses"] = responses
                responses.setdefault("4XX", {"description": "Client error (see detail and errors).", **error})
                if responses.get("503", {}).get("description") in (None, HTTPStatus.SERVICE_UNAVAILABLE.phrase):
                    # ninja describes a declared 503 only by its reason phrase; say which services it means.
                    responses["503"] = {"description": "Docker, nginx or NPM is unavailable.", **error}
                # gunicorn refuses a request line over limit_request_line itself (dashboard/gunicorn_conf.py),
                # before Portico sees it, in plain text: a very long query string gets this answer.
                responses.setdefault("414", TOO_LONG)
                if method in ("put", "patch", "delete"):
                    operation.setdefault("parameters", []).append(IF_MATCH)
                    responses.setdefault("412", {"description": "If-Match names a stale version.", **error})
        return schema


api = PorticoAPI(
    title="Portico API",
    version="1",
    description=(
        "Manage reverse-proxy routes, publish them to nginx or Nginx Proxy Manager, and watch Docker containers. "
        "Authenticate with `Authorization: Bearer <token>` (create one on the API tokens page or with "
        "`manage.py create_api_token`)."
    ),
    urls_namespace="api",
    auth=[BearerTokenAuth(), SessionAuth()],
    docs_decorator=_docs_auth,
)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error_response(exc.status, exc.detail, exc.errors, **exc.extra)


@api.exception_handler(OperationError)
def _operation_error(request: HttpRequest, exc: OperationError) -> HttpResponse:
    # Operations raise domain errors; this is the one place they become the API's error shape.
    detail = INVALID_INPUT if isinstance(exc, Invalid) and exc.only_repeats_fields else exc.message
    return error_response(exc.status, detail, exc.errors, **exc.extra)


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    return error_response(422, INVALID_INPUT, field_errors(exc.errors))


@api.exception_handler(DjangoValidationError)
def _django_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    return error_response(422, "Invalid input.", django_errors(exc))


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(401, "Authentication required: send Authorization: Bearer <token>.")


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(403, str(exc) or "Your role may not do this.")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(404, str(exc) or "Not found.")


@api.exception_handler(ObjectDoesNotExist)
def _does_not_exist(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(404, str(exc) or "Not found.")


@api.exception_handler(DataError)
def _data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
    # PostgreSQL refuses values SQLite stores (a NUL inside a YAML document, text longer than its column...):
    # the statement failed and its transaction is rolled back, so nothing changed. core.storable stops the
    # known cases with field errors first; this keeps the rest a 422 instead of a 500, logged for a fix.
    logging.getLogger(__name__).warning("The database refused a value in %s %s: %s", request.method, request.path, exc)
    return error_response(422, "Invalid input: a value the database cannot store (too long, out of range or with NUL).")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error_response(exc.status_code, str(exc))


class HealthOut(Schema):
    status: str
    version: str
    docker: str
    nginx: str


@api.get("/health", auth=None, response=HealthOut, tags=["system"])
def health(request: HttpRequest) -> dict[str, str]:
    """Liveness without auth: Portico's version and whether Docker and nginx answer (no other detail)."""
    return {"status": "ok", "version": settings.VERSION, "docker": docker_health(), "nginx": nginx_health()}


if settings.PORTICO_BENCH_FLOOR:

    @api.get("/bench/floor", tags=["system"], include_in_schema=False)
    def bench_floor(request: HttpRequest) -> dict[str, bool]:
        """bench/'s floor: an authenticated API request that does nothing else (only with PORTICO_BENCH_FLOOR)."""
        require(request, "view_portico")
        return {"ok": True}


# Each app owns its routers; they are mounted here so the OpenAPI document holds everything.
api.add_router("/", tokens_router)
api.add_router("/", publishing_router)
api.add_router("/", routes_crud_router)
api.add_router("/", config_router)
api.add_router("/", npm_router)
api.add_router("/", containers_router)
api.add_router("/", audit_router)
api.add_router("/", overview_router)
api.add_router("/", users_router)
api.add_router("/", certificates_router)
