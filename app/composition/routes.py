"""HTTP face of the cross-module reads."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from app.kernel.auth import requires_admin
from app.kernel.route_params import AuthRequest
from app.kernel.time_range import StatsRange, parse_range
from contracts.record import Contracts

from .dashboard import Dashboard, dashboard
from .session_context import SessionContext, session_context
from .settings import CompositionSettings


class DashboardController(Controller):
    path = "/dashboard"
    tags = ["composition"]
    guards = [requires_admin]

    @get(
        operation_id="dashboard",
        summary="Every module's stats in parallel; a failing part is an error entry (admin)",
    )
    async def dashboard(
        self, state: State, contracts: NamedDependency[Contracts], range_: StatsRange = "24h"
    ) -> Dashboard:
        since, until = parse_range(range_)
        return await dashboard(
            contracts,
            since,
            until,
            state.settings.of(CompositionSettings).timeout_s,
            events=state.get("events"),
        )


class SessionContextController(Controller):
    path = "/sessions/{session_id:uuid}/context"
    tags = ["composition"]

    @get(
        operation_id="sessionContext",
        summary="A session, its last messages, working memory and relevant memories",
    )
    async def context(
        self,
        request: AuthRequest,
        state: State,
        contracts: NamedDependency[Contracts],
        session_id: FromPath[UUID],
        messages: Annotated[int, QueryParameter(ge=1, le=200)] = 20,
        memories: Annotated[int, QueryParameter(ge=1, le=100)] = 5,
    ) -> SessionContext:
        return await session_context(
            contracts,
            session_id,
            request.user.user_id,
            messages=messages,
            memories=memories,
            timeout_s=state.settings.of(CompositionSettings).timeout_s,
        )
