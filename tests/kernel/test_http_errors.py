"""Contract errors map to one status each; an unexpected error is a 500 with a request id."""

import logging

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy.exc import DBAPIError

from app.kernel.http_errors import EXCEPTION_HANDLERS
from contracts.billing import QuotaExceeded
from contracts.conversation import SessionClosed, SessionNotFound
from contracts.errors import (
    ContractError,
    InvalidInput,
    LimitExceeded,
    MalformedRequest,
    PermissionDenied,
    Unavailable,
)


def app_raising(error: Exception) -> Litestar:
    @get("/boom")
    async def boom() -> None:
        raise error

    return Litestar([boom], exception_handlers=EXCEPTION_HANDLERS, debug=False)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (MalformedRequest("bad cursor", field="cursor"), 400),
        (PermissionDenied("no"), 403),
        (SessionNotFound("no session", field="session_id"), 404),
        (SessionClosed("closed"), 409),
        (InvalidInput("too big", field="metadata"), 422),
        (QuotaExceeded("over"), 429),
        (Unavailable("redis down"), 503),
    ],
)
async def test_contract_error_kinds_map_to_their_status(error: ContractError, status: int) -> None:
    async with AsyncTestClient(app_raising(error)) as client:
        response = await client.get("/boom")
    assert response.status_code == status
    body = response.json()
    assert (body["code"], body["detail"]) == (type(error).__name__, error.message)
    assert body.get("field") == error.field


class Remember(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_unexpected_error_is_500_with_a_request_id_that_is_logged() -> None:
    log = Remember()
    logging.getLogger("bulkhead.errors").addHandler(log)
    try:
        async with AsyncTestClient(app_raising(RuntimeError("secret internals"))) as client:
            response = await client.get("/boom")
    finally:
        logging.getLogger("bulkhead.errors").removeHandler(log)
    assert response.status_code == 500
    request_id = response.json()["request_id"]
    assert response.headers["x-request-id"] == request_id
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert any(request_id in r.getMessage() and r.exc_info for r in log.records)


async def test_http_errors_of_the_framework_keep_their_status() -> None:
    async with AsyncTestClient(app_raising(RuntimeError())) as client:
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.post("/boom")).status_code == 405


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"driver said {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("sqlstate", "status"), [("22021", 422), ("22003", 422), ("42601", 500)])
async def test_database_data_errors_are_422_and_others_500(sqlstate: str, status: int) -> None:
    error = DBAPIError("INSERT ...", {}, _DriverError(sqlstate))
    async with AsyncTestClient(app_raising(error)) as client:
        response = await client.get("/boom")
    assert response.status_code == status
    assert "INSERT" not in response.text and "driver said" not in response.text


async def test_rate_limit_error_carries_retry_after_and_details() -> None:
    error = LimitExceeded("slow down", details={"limit": 3}, retry_after_s=1.2)
    async with AsyncTestClient(app_raising(error)) as client:
        response = await client.get("/boom")
    assert response.headers["Retry-After"] == "2"
    assert response.json()["details"] == {"limit": 3}
