"""Calling a module in another process: an object with exactly its Protocol's methods.

Each call sends the keyword arguments (checked against the Protocol by name at once),
a service token for that module, the deadline and the contract's schema digest, over a
pooled keep-alive `httpx.AsyncClient`. A declared error comes back as its own class;
the remote being unreachable, slow, or answering 502/503/504 is `Unavailable` (transient:
sagas retry), and a circuit breaker fails calls fast while the remote keeps failing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import msgspec

from contracts.errors import Unavailable
from contracts.events import Event

from ..circuit_breaker import CircuitBreaker
from ..health import ComponentHealth
from ..telemetry.tracing import inject_into
from .errors import error_from_body
from .schema import RpcMethod, fingerprint, rpc_methods
from .server import DEADLINE_HEADER, EVENTS_AUDIENCE, PREFIX, SCHEMA_HEADER, EventProgressQuery
from .service_tokens import ServiceSigner
from .settings import RpcSettings

TRANSIENT = {502, 503, 504}


class RemoteModule:
    def __init__(
        self,
        module: str,
        protocol: type,
        base_url: str,
        signer: ServiceSigner,
        settings: RpcSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.module = module
        self.base_url = base_url
        self._methods = rpc_methods(protocol)
        self._schema = fingerprint(protocol)
        self._signer = signer
        self._timeout_s = settings.timeout_s
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=settings.timeout_s,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            transport=transport,
        )
        self.breaker = CircuitBreaker(
            f"the {module} module at {base_url}",
            threshold=settings.breaker_threshold,
            open_s=settings.breaker_open_s,
        )
        self.last_latency_ms: float | None = None

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        method = self._methods.get(name) if not name.startswith("_") else None
        if method is None:
            raise AttributeError(f"the {self.module} contract has no method {name!r}")

        async def call(**kwargs: Any) -> Any:
            return await self._call(method, method.arguments(**kwargs))

        return call

    async def _call(self, method: RpcMethod, arguments: msgspec.Struct) -> Any:
        self.breaker.before_call()
        headers = {
            "authorization": f"Bearer {self._signer.token(self.module)}",
            DEADLINE_HEADER: str(int(self._timeout_s * 1000)),
            SCHEMA_HEADER: self._schema,
            "content-type": "application/json",
        }
        inject_into(headers)  # the serving process continues this trace
        started = time.perf_counter()
        try:
            response = await self._http.post(
                f"{PREFIX}/{self.module}/{method.name}",
                content=msgspec.json.encode(arguments),
                headers=headers,
            )
        except httpx.HTTPError as exc:  # refused, reset, timed out: the remote is not there
            self.breaker.failed()
            raise Unavailable(
                f"the {self.module} module at {self.base_url} did not answer "
                f"({type(exc).__name__})",
                details={"module": self.module},
            ) from None
        self.last_latency_ms = round((time.perf_counter() - started) * 1000, 3)
        if response.status_code == 200:
            self.breaker.succeeded()
            return msgspec.json.decode(response.content, type=method.result)
        body = _json_or_none(response)
        declared = isinstance(body, dict) and "code" in body
        if response.status_code in TRANSIENT and not declared:
            self.breaker.failed()  # a proxy's or a dying server's answer, not the module's
        else:
            self.breaker.succeeded()
        raise error_from_body(response.status_code, body)

    async def event_progress(self, event_id: uuid.UUID, event_type: type[Event]) -> dict[str, str]:
        """How far the consumers of the process serving this module have got with one event
        (each process relays and consumes for its own modules)."""
        query = EventProgressQuery(
            event_id=event_id, type=event_type.TYPE, version=event_type.VERSION
        )
        try:
            response = await self._http.post(
                f"{PREFIX}/events/progress",
                content=msgspec.json.encode(query),
                headers={
                    "authorization": f"Bearer {self._signer.token(EVENTS_AUDIENCE)}",
                    "content-type": "application/json",
                },
            )
        except httpx.HTTPError:
            return {f"remote:{self.module}": "unreachable"}
        if response.status_code != 200:
            return {f"remote:{self.module}": f"unreachable ({response.status_code})"}
        return msgspec.json.decode(response.content, type=dict[str, str])

    async def component_health(self) -> dict[str, ComponentHealth]:
        detail = f"{self.base_url}; breaker {self.breaker.state}"
        if self.last_latency_ms is not None:
            detail += f"; last call {self.last_latency_ms} ms"
        return {
            f"remote:{self.module}": ComponentHealth(
                ok=self.breaker.state == "closed", detail=detail
            )
        }

    async def reachable(self) -> bool:
        """Whether its process answers its liveness probe within a second."""
        try:
            answer = await self._http.get("/health/live", timeout=1.0)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    async def close(self) -> None:
        await self._http.aclose()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
