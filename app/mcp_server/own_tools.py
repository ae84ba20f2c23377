"""Bulkhead's own MCP tools: knowledge search, recall and remember, each one contract call.

Their names carry a hyphen, which a registry tool's name cannot (`contracts.tools.ToolName`),
so they never shadow one. Arguments are the contract's request structs, so their JSON
Schema and their validation are the REST API's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from app.kernel.auth import Principal
from contracts.memory import AddedMemory, MemoryEntryCreate, RecallQuery, RecallResult
from contracts.rag import SearchRequest, SearchResult
from contracts.record import Contracts

# What a tool does with its checked arguments: one contract call for the caller.
Run = Callable[[Contracts, Principal, Any], Awaitable[msgspec.Struct]]


@dataclass(frozen=True)
class OwnTool:
    name: str
    title: str
    description: str
    module: str  # the contract it calls: listed only where that module answers
    arguments: type[msgspec.Struct]
    result: type[msgspec.Struct]
    read_only: bool
    run: Run


def object_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """The struct's JSON Schema with the struct itself at the root, as MCP asks
    (`type: object` there), the types it refers to under `$defs`."""
    (root_ref,), defs = msgspec.json.schema_components([struct], ref_template="#/$defs/{name}")
    root = dict(defs.pop(root_ref["$ref"].rsplit("/", 1)[1]))
    return {**root, "$defs": defs} if defs else root


async def _search(contracts: Contracts, _: Principal, request: SearchRequest) -> SearchResult:
    return await contracts.rag.search(request=request)


async def _recall(contracts: Contracts, caller: Principal, query: RecallQuery) -> RecallResult:
    return await contracts.memory.recall(user_id=caller.user_id, query=query)


async def _remember(
    contracts: Contracts, caller: Principal, entry: MemoryEntryCreate
) -> AddedMemory:
    return await contracts.memory.add(user_id=caller.user_id, entry=entry)


OWN_TOOLS = {
    tool.name: tool
    for tool in (
        OwnTool(
            name="knowledge-search",
            title="Search the knowledge base",
            description=(
                "The k passages of the knowledge base that best answer `query`, by meaning "
                "and by words (mode `hybrid`), at most `max_per_source` from one source."
            ),
            module="rag",
            arguments=SearchRequest,
            result=SearchResult,
            read_only=True,
            run=_search,
        ),
        OwnTool(
            name="memory-recall",
            title="Recall memories",
            description=(
                "Your long-term memories that best fit `query`, scored by relevance, "
                "importance and recency, each with how its score was made."
            ),
            module="memory",
            arguments=RecallQuery,
            result=RecallResult,
            read_only=False,  # recall counts an access on what it returns
            run=_recall,
        ),
        OwnTool(
            name="memory-remember",
            title="Remember something",
            description=(
                "Store a long-term memory (a fact, preference, goal, event or instruction). "
                "An exact duplicate of a current memory is merged, not stored twice."
            ),
            module="memory",
            arguments=MemoryEntryCreate,
            result=AddedMemory,
            read_only=False,
            run=_remember,
        ),
    )
}
