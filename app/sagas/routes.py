"""HTTP face of the sagas: creating and deleting sessions, and the admin view."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from app.kernel.auth import USER_ID_PATTERN, requires_admin
from app.kernel.events import EventSystem
from app.kernel.route_params import AuthRequest
from app.kernel.rpc.client import RemoteModule
from app.kernel.validation import validated
from contracts.conversation import Session, SessionCreate, SessionNotFound
from contracts.errors import InvalidInput, Unavailable
from contracts.sagas import Saga, SagaPage, SagaState
from contracts.users import (
    TokenRevocation,
    UserDeletion,
    UserDeletionProgress,
    UserDeletionRequested,
)

from .create_session import CREATE_SESSION
from .delete_session import DELETE_SESSION
from .orchestrator import SagaOrchestrator
from .outcome import SagaPending, session_saga_outcome

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(name="Idempotency-Key", max_length=200, description="retry-safe creation"),
]


async def user_deletion_progress(state: State, deletion_id: UUID) -> UserDeletionProgress:
    """Each module's part in one user deletion, here and in every process this one calls."""
    events: EventSystem | None = state.get("events")
    if events is None:
        raise Unavailable("events are not relayed in this process")
    modules = await events.progress(deletion_id, UserDeletionRequested)
    remotes: list[RemoteModule] = state.get("rpc_remotes", [])
    by_process = {r.base_url: r for r in remotes}  # one question per process
    for remote in by_process.values():
        modules.update(await remote.event_progress(deletion_id, UserDeletionRequested))
    return UserDeletionProgress(
        deletion_id=deletion_id,
        modules=modules,
        complete=all(s == "applied" for s in modules.values()),
    )


class SessionSagaController(Controller):
    path = "/sessions"
    tags = ["conversation"]

    @post(
        operation_id="createSession",
        summary="Open a session in conversation, memory and billing (a saga)",
        responses={202: SagaPending.response_spec()},
    )
    async def create_session(
        self,
        request: AuthRequest,
        sagas: NamedDependency[SagaOrchestrator],
        data: JSONBody[SessionCreate],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Session | SagaPending]:
        user_id = request.user.user_id
        data = validated(data)  # refused here (422), not by a step halfway through the saga
        payload = {"user_id": user_id, "title": data.title, "metadata": data.metadata}
        request_key = f"create:{user_id}:{idempotency_key}" if idempotency_key else None
        saga_id = await sagas.start(CREATE_SESSION, payload, request_key)
        saga = await sagas.wait(saga_id, sagas.request_deadline_s)
        session_id = session_saga_outcome(saga, sagas.business_error(saga_id))
        if isinstance(session_id, SagaPending):
            return Response(session_id, status_code=202)
        conversation = sagas.contracts.conversation
        session = await conversation.get_session(session_id=session_id, user_id=user_id)
        return Response(session, status_code=201)

    @delete(
        "/{session_id:uuid}",
        operation_id="deleteSession",
        summary="Delete a session everywhere: billing, memory, conversation (a saga)",
        # 204 when done (or done before); 202 while the saga is still retrying past the
        # deadline. Litestar's own default status must carry the body, so it is the 202.
        status_code=202,
        responses={204: ResponseSpec(data_container=None, description="Deleted everywhere")},
    )
    async def delete_session(
        self,
        request: AuthRequest,
        sagas: NamedDependency[SagaOrchestrator],
        session_id: FromPath[UUID],
    ) -> Response[SagaPending | None]:
        user_id = request.user.user_id
        conversation = sagas.contracts.conversation
        try:
            await conversation.get_session(session_id=session_id, user_id=user_id)
        except SessionNotFound:
            # Deleted already (idempotent: 204) or never the caller's (404): the
            # conversation module knows which.
            await conversation.delete_session(session_id=session_id, user_id=user_id)
            return Response(None, status_code=204)
        payload = {"user_id": user_id, "session_id": str(session_id)}
        saga_id = await sagas.start(DELETE_SESSION, payload, f"delete:{session_id}")
        saga = await sagas.wait(saga_id, sagas.request_deadline_s)
        if saga.state == "succeeded":
            return Response(None, status_code=204)
        return Response(SagaPending(saga_id=saga.id, state=saga.state), status_code=202)


class SagaAdminController(Controller):
    path = "/admin/sagas"
    tags = ["sagas"]
    guards = [requires_admin]

    @get(operation_id="listSagas", summary="Sagas, newest first, by state (admin)")
    async def list_sagas(
        self,
        sagas: NamedDependency[SagaOrchestrator],
        state_: Annotated[
            SagaState | None, QueryParameter(name="state", description="only this state")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> SagaPage:
        return await sagas.list_sagas(state=state_, limit=limit)

    @get("/{saga_id:uuid}", operation_id="getSaga", summary="A saga with its step history (admin)")
    async def get_saga(
        self, sagas: NamedDependency[SagaOrchestrator], saga_id: FromPath[UUID]
    ) -> Saga:
        return await sagas.get_saga(saga_id=saga_id)

    @post(
        "/{saga_id:uuid}/retry",
        operation_id="retrySaga",
        summary="Take up a saga that needs attention again (admin)",
        status_code=200,
    )
    async def retry(
        self, sagas: NamedDependency[SagaOrchestrator], saga_id: FromPath[UUID]
    ) -> Saga:
        return await sagas.retry(saga_id=saga_id)


class UserDeletionController(Controller):
    tags = ["users"]

    @delete(
        "/users/me",
        operation_id="deleteMe",
        summary="Delete all of the caller's data, in every module (asynchronously)",
        status_code=202,
    )
    async def delete_me(
        self, request: AuthRequest, sagas: NamedDependency[SagaOrchestrator]
    ) -> UserDeletion:
        user_id = request.user.user_id
        return await sagas.request_user_deletion(user_id=user_id, requested_by=user_id)

    @get(
        "/admin/users/deletions/{deletion_id:uuid}",
        operation_id="getUserDeletion",
        summary="How far each module has got with deleting a user (admin)",
        guards=[requires_admin],
    )
    async def deletion_progress(
        self, state: State, deletion_id: FromPath[UUID]
    ) -> UserDeletionProgress:
        return await user_deletion_progress(state, deletion_id)

    @delete(
        "/admin/users/{user_id:str}",
        operation_id="deleteUser",
        summary="Delete all of a user's data, in every module (admin, asynchronously)",
        status_code=202,
        guards=[requires_admin],
    )
    async def delete_user(
        self,
        request: AuthRequest,
        sagas: NamedDependency[SagaOrchestrator],
        user_id: FromPath[str],
    ) -> UserDeletion:
        if not USER_ID_PATTERN.fullmatch(user_id):
            raise InvalidInput(f"{user_id!r} is not a user id", field="user_id")
        return await sagas.request_user_deletion(user_id=user_id, requested_by=request.user.user_id)

    @post(
        "/admin/users/{user_id:str}/tokens/revoke",
        operation_id="revokeUserTokens",
        summary="Refuse every token of a user issued until now (admin)",
        status_code=200,
        guards=[requires_admin],
    )
    async def revoke_tokens(
        self, sagas: NamedDependency[SagaOrchestrator], user_id: FromPath[str]
    ) -> TokenRevocation:
        if not USER_ID_PATTERN.fullmatch(user_id):
            raise InvalidInput(f"{user_id!r} is not a user id", field="user_id")
        return await sagas.revoke_tokens(user_id=user_id)
