"""The contract's error body, the exceptions services raise, and the handlers that render them."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import Send

from televisit.core.schemas import document_common_errors

log = structlog.get_logger("televisit.errors")


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    message = "Bad request."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        self.headers = headers
        super().__init__(self.message)


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status_code = 401
    code = "not_authenticated"
    message = "Sign in to continue."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden_role"
    message = "Your role is not allowed to do this."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Unprocessable(AppError):
    status_code = 422
    code = "validation_error"
    message = "The request is not valid."


class Throttled(AppError):
    status_code = 429
    code = "too_many_requests"
    message = "Too many attempts. Try again later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(
            message,
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )



HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


INTERNAL_ERROR = ("internal_error", "Something went wrong on our side.")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


async def send_error(
    send: Send, status: int, code: str, message: str, details: Any = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer with the error body straight over ASGI, for middleware outside the routes."""
    payload = JSONResponse(error_body(code, message, details)).body
    raw_headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(payload)).encode())]
    raw_headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the input back: it may hold a password.
    return [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err["type"],
        }
        for err in exc.errors()
    ]


async def _app_error(_req: Request, exc: AppError) -> JSONResponse:
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(_req: Request, exc: RequestValidationError) -> JSONResponse:
    details = _validation_details(exc)
    if any(d["type"] == "json_invalid" for d in details):
        return error_response(400, "malformed_json", "The request body is not valid JSON.", details)
    return error_response(422, "validation_error", "The request is not valid.", details)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI's answer to a JSON body that is not even text (bad UTF-8).
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
    return error_response(exc.status_code, code, message, None, headers or None)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at this path. Starlette's 405 names only the methods of
    the first route whose path matched, but one path often has a route per method."""
    methods: set[str] = set()
    for context in iter_route_contexts(app.routes):
        template = context.path_format
        route_methods = getattr(context.original_route, "methods", None)
        if template and route_methods and compile_path(template)[0].match(path):
            methods |= set(route_methods)
    return sorted(methods)


async def _unhandled(_req: Request, exc: Exception) -> JSONResponse:
    # Normally the request logging middleware logs and answers first; this is the fallback.
    log.exception("unhandled_exception", exc_info=exc)
    return error_response(500, *INTERNAL_ERROR)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error in the contract's body, and declare the common ones in the document."""
    # FastAPI's documented way to change the document is to replace `app.openapi`.
    app.openapi = document_common_errors(app.openapi)  # type: ignore[method-assign]
    # Starlette types every handler as taking `Exception`; each of these is registered for (and
    # only ever called with) its own exception class.
    app.add_exception_handler(AppError, _app_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unhandled)
