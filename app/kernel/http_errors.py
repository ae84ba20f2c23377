"""The one place where contract errors become HTTP statuses.

No stack trace reaches a client: an unexpected error answers 500 with a request id,
and the same id is logged with the traceback.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

from litestar import MediaType, Request, Response
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from contracts.errors import (
    Conflict,
    ContractError,
    InvalidInput,
    LimitExceeded,
    MalformedRequest,
    NotFound,
    PermissionDenied,
    Unavailable,
)

from .telemetry.logs import REQUEST_ID

logger = logging.getLogger("bulkhead.errors")

STATUS_BY_KIND: dict[type[ContractError], int] = {
    MalformedRequest: 400,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    LimitExceeded: 429,
    Unavailable: 503,
}


def status_for(error: ContractError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_BY_KIND:
            return STATUS_BY_KIND[kind]
    return 500  # a ContractError of no declared kind is a bug in its contract


def contract_error_to_response(_: Request[Any, Any, Any], exc: Exception) -> Response[object]:
    assert isinstance(exc, ContractError)
    body: dict[str, object] = {
        "status_code": status_for(exc),
        "code": exc.code,
        "detail": exc.message,
    }
    if exc.field is not None:
        body["field"] = exc.field
    if exc.details:
        body["details"] = exc.details
    headers = {}
    if exc.retry_after_s is not None:
        body["retry_after_s"] = exc.retry_after_s  # exact, for RPC callers
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    return Response(body, status_code=status_for(exc), headers=headers, media_type=MediaType.JSON)


def unstorable_value_to_response(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[object]:
    """The database refused a value as data (SQLSTATE class 22: a character it cannot
    store, a number out of range): the request's fault, so 422, not 500."""
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
    if isinstance(exc, OperationalError | InterfaceError) and not sqlstate.startswith("22"):
        return unreachable_to_response(request, exc)
    if not sqlstate.startswith("22"):
        return unexpected_error_to_response(request, exc)
    reason = type(getattr(exc, "orig", exc)).__name__  # not the value itself: it is user data
    logger.info("refused unstorable value %s %s: %s", request.method, request.url.path, reason)
    return Response(
        {
            "status_code": 422,
            "code": "UnstorableValue",
            "detail": "a value in the request cannot be stored; remove control characters "
            "such as NUL and keep numbers in range",
        },
        status_code=422,
        media_type=MediaType.JSON,
    )


def unreachable_to_response(request: Request[Any, Any, Any], exc: Exception) -> Response[object]:
    """A database (or another server) could not be reached or gave up: 503, retry later."""
    logger.warning(
        "unreachable while serving %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return Response(
        {
            "status_code": 503,
            "code": "Unavailable",
            "detail": "a database this request needs cannot be reached right now; retry later",
        },
        status_code=503,
        headers={"Retry-After": "1"},
        media_type=MediaType.JSON,
    )


def unexpected_error_to_response(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[object]:
    request_id = REQUEST_ID.get() or uuid.uuid4().hex
    logger.error(
        "unhandled error request_id=%s %s %s",
        request_id,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return Response(
        {"status_code": 500, "detail": "Internal server error", "request_id": request_id},
        status_code=500,
        headers={"x-request-id": request_id},
        media_type=MediaType.JSON,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ContractError: contract_error_to_response,
    DBAPIError: unstorable_value_to_response,
    # A driver's own connection failures (asyncpg raises OSError subclasses on connect).
    ConnectionError: unreachable_to_response,
    TimeoutError: unreachable_to_response,
    # Keyed by status, Litestar uses it only for exceptions that are not HTTPExceptions,
    # so its own 401/404/405 answers stay as they are.
    500: unexpected_error_to_response,
}
