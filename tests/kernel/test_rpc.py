"""The RPC kernel's parts on their own: schemas from Protocols, errors over the wire, the
circuit breaker, and the checks that refuse a split that cannot work."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any, get_type_hints

import pytest
from litestar import Request

from app.kernel.circuit_breaker import CircuitBreaker, CircuitOpen
from app.kernel.http_errors import contract_error_to_response
from app.kernel.rpc.errors import declared_errors, error_from_body
from app.kernel.rpc.schema import fingerprint, rpc_methods
from app.kernel.rpc.wiring import check_split
from app.kernel.settings import Settings, SettingsError
from app.main import bind_modules
from contracts.errors import ContractError, Unavailable
from contracts.record import Contracts
from contracts.tools import ToolRateLimited


def test_every_contract_method_has_an_rpc_schema() -> None:
    protocols = get_type_hints(Contracts)
    for field in fields(Contracts):
        methods = rpc_methods(protocols[field.name])
        assert "replay_events" in methods  # every contract is an event source
        assert len(fingerprint(protocols[field.name])) == 16


def test_every_declared_error_crosses_the_wire_as_its_own_class_with_its_fields() -> None:
    errors = declared_errors()
    assert "ToolRateLimited" in errors and "SessionNotFound" in errors
    for name, cls in errors.items():
        sent = cls.__new__(cls)
        ContractError.__init__(
            sent, f"{name} happened", field="x", details={"n": 1}, retry_after_s=2.5
        )
        response = contract_error_to_response(Request.__new__(Request), sent)
        body = json.loads(json.dumps(response.content))
        received = error_from_body(response.status_code or 500, body)
        assert type(received) is cls
        assert (received.message, received.field, received.details, received.retry_after_s) == (
            f"{name} happened",
            "x",
            {"n": 1},
            2.5,
        )


def test_an_undeclared_error_is_unavailable_on_the_callers_side() -> None:
    assert type(error_from_body(500, {"status_code": 500, "detail": "boom"})) is Unavailable
    assert type(error_from_body(418, {"code": "Teapot", "detail": "no"})) is Unavailable
    assert isinstance(error_from_body(429, {"code": "ToolRateLimited"}), ToolRateLimited)


def test_the_breaker_opens_fails_fast_and_closes_after_a_good_probe() -> None:
    now = [0.0]
    breaker = CircuitBreaker("rag", threshold=2, open_s=5, clock=lambda: now[0])
    breaker.failed()
    breaker.before_call()  # one failure: still closed
    breaker.failed()
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()
    assert caught.value.retry_after_s == 5
    now[0] = 6.0
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # only one probe at a time
    breaker.succeeded()
    assert breaker.state == "closed"
    breaker.before_call()


def test_a_failed_probe_opens_the_breaker_again() -> None:
    now = [0.0]
    breaker = CircuitBreaker("rag", threshold=1, open_s=5, clock=lambda: now[0])
    breaker.failed()
    now[0] = 5.0
    breaker.before_call()
    breaker.failed()
    assert breaker.state == "open"


def test_a_probe_that_never_reports_is_given_up_on() -> None:
    """Cancelled mid-call (a deadline, a client gone), a probe reports nothing: after
    another open period the next call probes instead of every call being refused forever."""
    now = [0.0]
    breaker = CircuitBreaker("rag", threshold=1, open_s=5, clock=lambda: now[0])
    breaker.failed()
    now[0] = 5.0
    breaker.before_call()  # the probe, never heard of again
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    now[0] = 10.0
    breaker.before_call()  # a new probe
    breaker.succeeded()
    assert breaker.state == "closed"


def test_a_split_needs_the_redis_bus_and_a_service_name(sqlite_settings: Settings) -> None:
    remote = replace(sqlite_settings, remotes={"rag": "http://127.0.0.1:1"})
    with pytest.raises(SettingsError, match="BULKHEAD_BUS_URL"):
        check_split(remote)
    env: dict[str, Any] = {"BULKHEAD_BUS_URL": "redis://127.0.0.1:6379/0"}
    with_bus = replace(remote, environ=env, groups={})
    with pytest.raises(SettingsError, match="BULKHEAD_SERVICE_NAME"):
        check_split(with_bus)
    with pytest.raises(SettingsError, match="BULKHEAD_KEYS_DIR"):  # no key made yet
        bind_modules(replace(with_bus, environ={**env, "BULKHEAD_SERVICE_NAME": "edge"}, groups={}))


def test_a_module_cannot_be_both_served_here_and_remote() -> None:
    settings = Settings.from_env(
        {"BULKHEAD_MODULES": "rag", "BULKHEAD_REMOTE_RAG": "http://127.0.0.1:1"}
    )
    with pytest.raises(SettingsError, match="both served here"):
        settings.check_modules({"rag", "sagas"})
