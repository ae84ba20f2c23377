"""`/console`: the operator's page, its sign-in and its two actions (retry a saga,
resubmit a dead letter), each calling what the admin routes call."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, Router, get, post
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.base import SessionMiddleware
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp

from app.kernel.app_factory import provided
from app.kernel.events.system import EventSystem
from app.kernel.module import Module
from contracts.errors import ContractError, Unavailable
from contracts.record import Contracts

from . import signin
from .overview import overview

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
PATH = "/console"
SESSION_KEY = "bulkhead_console"
Days = Annotated[int, QueryParameter(ge=1, le=90, description="the range, in days")]


def console_router(secret: str, modules: Sequence[Module], secure_cookie: bool) -> list[Router]:
    """The console's routes and its static files. `secret` seals the session cookie and
    signs the CSRF tokens (keys derived from it, one per use)."""
    session = CookieBackendConfig(
        secret=_derive(secret, "console-session"),
        key=SESSION_KEY,
        max_age=int(signin.SESSION_TTL.total_seconds()),
        path=PATH,
        secure=secure_cookie,
        httponly=True,
        samesite="strict",
    )
    csrf = CSRFConfig(
        secret=_derive(secret, "console-csrf").hex(),
        cookie_name="bulkhead_console_csrf",
        cookie_path=PATH,
        cookie_secure=secure_cookie,
        cookie_samesite="strict",
    )
    pages = Router(
        path=PATH,
        route_handlers=[ConsoleController],
        middleware=[_sessions(session), DefineMiddleware(CSRFMiddleware, config=csrf)],
        dependencies={"modules": provided(list(modules)), "link_secret": provided(secret)},
        exception_handlers={
            NotAuthorizedException: _signin_needed,
            PermissionDeniedException: _form_refused,  # the CSRF check's answer
        },
        include_in_schema=False,
    )
    assets = create_static_files_router(
        path=f"{PATH}/static", directories=[HERE / "static"], include_in_schema=False
    )
    return [pages, assets]


def _sessions(config: CookieBackendConfig) -> Callable[[ASGIApp], ASGIApp]:
    """Litestar's session middleware, built when the app is: Litestar copies a router's
    middleware definitions, and the backend's cipher cannot be copied."""

    def middleware(app: ASGIApp) -> ASGIApp:
        return SessionMiddleware(app=app, backend=ClientSideSessionBackend(config=config))

    return middleware


def _derive(secret: str, purpose: str) -> bytes:
    """A key per use from the server's high-entropy secret: a labelled hash suffices."""
    return hashlib.sha256(f"{purpose}:{secret}".encode()).digest()


def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    found = connection.scope.get("session")
    session: dict[str, Any] = found if isinstance(found, dict) else {}
    until = session.get("until", 0)
    if not session.get("user") or until < datetime.now(UTC).timestamp():
        raise NotAuthorizedException("sign in with a link from `bulkhead console`")


def _signin_needed(request: Request[Any, Any, Any], _: Exception) -> Response[Any]:
    return _message(
        "Sign in to the console",
        "Your console session has ended, or you have not signed in. Run "
        "`bulkhead console` on the server for a one-time sign-in link.",
        401,
    )


def _form_refused(request: Request[Any, Any, Any], _: Exception) -> Response[Any]:
    return _message(
        "That action was not taken",
        "The form did not carry this session's token (it came from another page, or the "
        "session changed). Go back to the console, reload it and try again.",
        403,
    )


def _message(title: str, text: str, status: int) -> Template:
    return Template("message.html.j2", context={"title": title, "text": text}, status_code=status)


class ConsoleController(Controller):
    @get("/", guards=[signed_in])
    async def page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        modules: NamedDependency[list[Module]],
        days: Days = 7,
    ) -> Template:
        view = await overview(state, modules, days)
        notice = request.session.pop("notice", None)
        return Template(
            "console.html.j2",
            context={"view": view, "user": request.session["user"], "notice": notice},
        )

    @get("/signin")
    async def sign_in(
        self,
        request: Request[Any, Any, Any],
        state: State,
        link_secret: NamedDependency[str],
        token: FromQuery[str] = "",
    ) -> Response[Any]:
        contracts: Contracts = state["contracts"]
        try:
            user = await signin.redeem(
                token,
                link_secret,
                contracts.sagas,
                state.get("token_revocations"),
            )
        except signin.SigninRefused as refused:
            return _message("This link does not sign you in", refused.message, refused.status)
        until = datetime.now(UTC) + signin.SESSION_TTL
        request.set_session({"user": user, "until": until.timestamp()})
        return Redirect(PATH, status_code=303)

    @post("/signout", status_code=200)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Template:
        request.clear_session()
        return _message("Signed out", "Run `bulkhead console` to sign in again.", 200)

    @post("/sagas/{saga_id:uuid}/retry", guards=[signed_in])
    async def retry(
        self, request: Request[Any, Any, Any], state: State, saga_id: FromPath[UUID]
    ) -> Redirect:
        contracts: Contracts = state["contracts"]
        try:
            saga = await contracts.sagas.retry(saga_id=saga_id)
            request.session["notice"] = f"Saga {saga_id} taken up again: {saga.state}."
        except ContractError as exc:
            request.session["notice"] = f"Saga {saga_id} was not retried: {exc.message}"
        return Redirect(f"{PATH}#sagas", status_code=303)

    @post("/dead-letters/{consumer:str}/{letter_id:uuid}/resubmit", guards=[signed_in])
    async def resubmit(
        self,
        request: Request[Any, Any, Any],
        state: State,
        consumer: FromPath[str],
        letter_id: FromPath[UUID],
    ) -> Redirect:
        events: EventSystem | None = state.get("events")
        try:
            if events is None:
                raise Unavailable("events are not relayed in this process")
            letter = await events.resubmit(consumer, letter_id)
            outcome = "applied" if letter.resolved_at else f"failed again: {letter.error}"
            request.session["notice"] = f"Dead letter {letter_id} resubmitted: {outcome}."
        except ContractError as exc:
            request.session["notice"] = (
                f"Dead letter {letter_id} was not resubmitted: {exc.message}"
            )
        return Redirect(f"{PATH}#dead-letters", status_code=303)
