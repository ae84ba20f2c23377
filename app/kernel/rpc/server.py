"""Serving contracts to other processes: `POST /internal/v1/{module}/{method}`.

One handler for every module and method: the body is the method's keyword arguments
(msgspec JSON, checked against the Protocol's types), the answer its result. Contract
errors answer with the kernel's error body (the caller raises the same class); anything
else is a 500 with a request id. Only service tokens from allowed callers get in.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response, post
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath

from contracts.errors import Conflict, InvalidInput, MalformedRequest, Unavailable

from .schema import RpcMethod, fingerprint, rpc_methods
from .service_tokens import ServiceTokenRefused, ServiceVerifier

PREFIX = "/internal/v1"
DEADLINE_HEADER = "x-bulkhead-deadline-ms"
SCHEMA_HEADER = "x-bulkhead-schema"


class RpcSchemaMismatch(Conflict):
    """The caller was built against another version of this contract."""


@dataclass(frozen=True)
class Served:
    """A module this process serves to others: its Protocol and its local service."""

    protocol: type
    service: object


class EventProgressQuery(msgspec.Struct, frozen=True, kw_only=True):
    event_id: uuid.UUID
    type: str  # the event class's TYPE
    version: int = 1


EVENTS_AUDIENCE = "events"  # the event system of a process, for progress across processes


class InternalRpcController(Controller):
    path = PREFIX
    include_in_schema = False

    @post("/events/progress", status_code=200)
    async def event_progress(self, request: Request[Any, Any, Any], state: State) -> dict[str, str]:
        """How far this process's consumers have got with one event (a user deletion)."""
        _admit(request, state, EVENTS_AUDIENCE)
        query = msgspec.json.decode(await request.body(), type=EventProgressQuery)
        events = state.get("events")
        if events is None:
            return {}
        states: dict[str, str] = await events.progress_of(
            query.event_id, (query.type, query.version)
        )
        return states

    @post("/{module:str}/{method:str}", status_code=200)
    async def call(
        self,
        request: Request[Any, Any, Any],
        state: State,
        module: FromPath[str],
        method: FromPath[str],
    ) -> Response[bytes]:
        served: dict[str, Served] = state.rpc_served
        target = served.get(module)
        if target is None:
            raise NotFoundException(f"this process does not serve the {module} module")
        _admit(request, state, module)
        spec = rpc_methods(target.protocol).get(method)
        if spec is None:
            raise NotFoundException(f"the {module} contract has no method {method!r}")
        expected = fingerprint(target.protocol)
        if request.headers.get(SCHEMA_HEADER, expected) != expected:
            raise RpcSchemaMismatch(
                f"the caller's {module} contract differs from this one ({expected}); "
                "deploy both from the same version"
            )
        arguments = _decode(spec, await request.body())
        result = await _within_deadline(
            getattr(target.service, method)(**arguments), request.headers.get(DEADLINE_HEADER)
        )
        return Response(msgspec.json.encode(result), media_type=MediaType.JSON)


def _decode(spec: RpcMethod, body: bytes) -> dict[str, Any]:
    try:
        decoded = msgspec.json.decode(body, type=spec.arguments)
    except msgspec.ValidationError as exc:
        # As `validated()` refuses a DTO in-process: InvalidInput, the field relative to
        # the argument it is in (`$.update.max_active_sessions` -> max_active_sessions).
        message = str(exc)
        path = message.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in message else ""
        argument, _, inner = path.partition(".")
        raise InvalidInput(message, field=inner or argument or None) from None
    except msgspec.DecodeError as exc:
        raise MalformedRequest(f"arguments of {spec.name} are not JSON: {exc}") from None
    return {name: getattr(decoded, name) for name in decoded.__struct_fields__}


async def _within_deadline(call: Any, deadline_ms: str | None) -> Any:
    if deadline_ms is None or not deadline_ms.isdigit():
        return await call
    try:
        async with asyncio.timeout(int(deadline_ms) / 1000):
            return await call
    except TimeoutError:
        raise Unavailable("the call's deadline passed before it finished") from None


def _admit(request: Request[Any, Any, Any], state: State, audience: str) -> None:
    """Let the call in only with a service token for `audience` from an allowed caller:
    401 when the token is missing or bad, 403 when its caller may not call here."""
    verifier: ServiceVerifier = state.rpc_verifier
    try:
        verifier.caller(request.headers.get("authorization"), audience)
    except ServiceTokenRefused as exc:
        if exc.unauthenticated:
            raise NotAuthorizedException(exc.message) from None
        raise PermissionDeniedException(exc.message) from None
