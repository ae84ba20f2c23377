"""HTTP face of the memory module: thin, it parses, calls the contract, answers."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from app.kernel.auth import requires_admin
from app.kernel.route_params import AuthRequest, Cursor, Limit
from app.kernel.time_range import StatsRange, parse_range
from contracts.memory import (
    MemoryAPI,
    MemoryCategory,
    MemoryEntry,
    MemoryEntryCreate,
    MemoryEntryUpdate,
    MemoryPage,
    MemoryStats,
    RecallQuery,
    RecallResult,
    Relationship,
    RelationshipCreate,
    Relationships,
    WorkingMemory,
    WorkingMemoryItemCreate,
)
from contracts.paging import DEFAULT_PAGE_LIMIT


class MemoryController(Controller):
    path = "/memories"
    tags = ["memory"]

    @post(
        operation_id="addMemory",
        summary="Remember something long-term (201; an exact duplicate merges: 200)",
    )
    async def add(
        self,
        request: AuthRequest,
        memory: NamedDependency[MemoryAPI],
        data: JSONBody[MemoryEntryCreate],
    ) -> Response[MemoryEntry]:
        added = await memory.add(user_id=request.user.user_id, entry=data)
        return Response(added.entry, status_code=200 if added.merged else 201)

    @get(operation_id="listMemories", summary="The caller's memories, newest first")
    async def list_memories(
        self,
        request: AuthRequest,
        memory: NamedDependency[MemoryAPI],
        category: Annotated[
            MemoryCategory | None, QueryParameter(description="only this one")
        ] = None,
        include_superseded: Annotated[
            bool, QueryParameter(description="past versions and expired memories too")
        ] = False,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_LIMIT,
    ) -> MemoryPage:
        return await memory.list_memories(
            user_id=request.user.user_id,
            category=category,
            include_superseded=include_superseded,
            cursor=cursor,
            limit=limit,
        )

    @post(
        "/search",
        operation_id="recallMemories",
        summary="Recall the caller's memories for a query, with each factor of the score",
        status_code=200,
    )
    async def recall(
        self, request: AuthRequest, memory: NamedDependency[MemoryAPI], data: JSONBody[RecallQuery]
    ) -> RecallResult:
        return await memory.recall(user_id=request.user.user_id, query=data)

    @get("/{memory_id:uuid}", operation_id="getMemory", summary="One memory (any version)")
    async def get_memory(
        self, request: AuthRequest, memory: NamedDependency[MemoryAPI], memory_id: FromPath[UUID]
    ) -> MemoryEntry:
        return await memory.get(memory_id=memory_id, user_id=request.user.user_id)

    @patch(
        "/{memory_id:uuid}",
        operation_id="updateMemory",
        summary="Update a memory: a new version supersedes the current one",
    )
    async def update(
        self,
        request: AuthRequest,
        memory: NamedDependency[MemoryAPI],
        memory_id: FromPath[UUID],
        data: JSONBody[MemoryEntryUpdate],
    ) -> MemoryEntry:
        return await memory.update(memory_id=memory_id, user_id=request.user.user_id, change=data)

    @delete(
        "/{memory_id:uuid}",
        operation_id="deleteMemory",
        summary="Forget a memory, with all its versions and relationships",
    )
    async def delete_memory(
        self, request: AuthRequest, memory: NamedDependency[MemoryAPI], memory_id: FromPath[UUID]
    ) -> None:
        await memory.delete(memory_id=memory_id, user_id=request.user.user_id)

    @get(
        "/{memory_id:uuid}/history",
        operation_id="memoryHistory",
        summary="Every version of a memory, oldest first",
    )
    async def history(
        self, request: AuthRequest, memory: NamedDependency[MemoryAPI], memory_id: FromPath[UUID]
    ) -> list[MemoryEntry]:
        return await memory.history(memory_id=memory_id, user_id=request.user.user_id)

    @post(
        "/{memory_id:uuid}/relationships",
        operation_id="relateMemory",
        summary="Relate this memory to another of the caller's",
    )
    async def relate(
        self,
        request: AuthRequest,
        memory: NamedDependency[MemoryAPI],
        memory_id: FromPath[UUID],
        data: JSONBody[RelationshipCreate],
    ) -> Relationship:
        return await memory.relate(
            user_id=request.user.user_id, source_id=memory_id, relationship=data
        )

    @get(
        "/{memory_id:uuid}/relationships",
        operation_id="memoryRelationships",
        summary="A memory's relationships and its neighbours to depth 2",
    )
    async def relationships(
        self, request: AuthRequest, memory: NamedDependency[MemoryAPI], memory_id: FromPath[UUID]
    ) -> Relationships:
        return await memory.relationships(memory_id=memory_id, user_id=request.user.user_id)


class WorkingMemoryController(Controller):
    path = "/sessions/{session_id:uuid}/working-memory"
    tags = ["memory"]

    @get(operation_id="getWorkingMemory", summary="A session's working memory, oldest first")
    async def read(
        self, request: AuthRequest, memory: NamedDependency[MemoryAPI], session_id: FromPath[UUID]
    ) -> WorkingMemory:
        return await memory.working_memory(session_id=session_id, user_id=request.user.user_id)

    @post(
        operation_id="addToWorkingMemory",
        summary="Add a turn or a fact to a session's working memory",
    )
    async def add(
        self,
        request: AuthRequest,
        memory: NamedDependency[MemoryAPI],
        session_id: FromPath[UUID],
        data: JSONBody[WorkingMemoryItemCreate],
    ) -> WorkingMemory:
        return await memory.remember_in_session(
            session_id=session_id, user_id=request.user.user_id, item=data
        )


class MemoryStatsController(Controller):
    path = "/memory/stats"
    tags = ["memory"]
    guards = [requires_admin]

    @get(operation_id="memoryStats", summary="Entries, categories, recalls, live sessions (admin)")
    async def stats(
        self, memory: NamedDependency[MemoryAPI], range_: StatsRange = "24h"
    ) -> MemoryStats:
        since, until = parse_range(range_)
        return await memory.stats(since=since, until=until)
