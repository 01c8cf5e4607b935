"""Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pasar.errors import (
    ContextLengthError,
    EngineRequestError,
    EngineUnavailableError,
    InvalidSchemaError,
    MissingWeightsError,
    NotFoundError,
    PasarError,
    ServerBusyError,
)
from pasar.models.images import ImageInputError

log = logging.getLogger("pasar.serve")

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(status, "server_error"),
            "param": param,
            "code": code,
        }
    }


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(status, message, code, param), status_code=status, headers=headers
    )


def status_of(exc: PasarError) -> tuple[int, str]:
    """HTTP status and OpenAI error code for a pasar error."""
    if isinstance(exc, NotFoundError):
        return 404, "not_found"
    if isinstance(exc, ContextLengthError):
        return 400, "context_length_exceeded"
    if isinstance(exc, InvalidSchemaError):
        return 400, "invalid_json_schema"
    if isinstance(exc, ImageInputError):
        return 400, "invalid_image"
    if isinstance(exc, MissingWeightsError | EngineUnavailableError):
        return 503, "model_unavailable"
    if isinstance(exc, ServerBusyError):
        return 503, "server_busy"
    if isinstance(exc, EngineRequestError):
        return 502, "upstream_error"
    return 400, "invalid_request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(
            exc.status, exc.message, code=exc.code, param=exc.param, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        detail = str(first["msg"]).removeprefix("Value error, ")
        message = f"{where}: {detail}" if where else detail
        if first["type"] == "json_invalid":
            message = f"the request body is not valid JSON ({first['ctx'].get('error', '')})"
            where = ""
        elif tuple(first["loc"]) == ("body",) and first["type"] != "value_error":
            message = (
                "the request body must be a JSON object, sent with Content-Type: application/json"
            )
        return error_response(400, message, code="invalid_request", param=where or None)

    @app.exception_handler(PasarError)
    async def pasar_error(_: Request, exc: PasarError) -> JSONResponse:
        status, code = status_of(exc)
        headers = (
            {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, ServerBusyError) else None
        )
        return error_response(status, str(exc), code=code, headers=headers)

    @app.exception_handler(ValueError)
    async def value_error(_: Request, exc: ValueError) -> JSONResponse:
        return error_response(400, str(exc), code="invalid_request")

    @app.exception_handler(SQLAlchemyError)
    async def store_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The error's text was scrubbed of the values the database quoted (store/db.py); the
        # client learns only that the store failed.
        log.error("store error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(
            500,
            "the store could not complete this request; the server's log has the details",
            code="store_error",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))
