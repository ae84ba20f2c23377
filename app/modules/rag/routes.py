"""HTTP face of the RAG module: admins curate the knowledge base, every user searches it."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from app.kernel.auth import requires_admin
from app.kernel.time_range import StatsRange, parse_range
from contracts.rag import (
    Document,
    DocumentBatch,
    DocumentCreate,
    IngestResult,
    RagAPI,
    RagStats,
    SearchRequest,
    SearchResult,
)

Rag = NamedDependency[RagAPI]


class DocumentController(Controller):
    path = "/documents"
    tags = ["rag"]
    guards = [requires_admin]

    @post(operation_id="ingestDocument", summary="Chunk, embed and store one text (admin)")
    async def ingest(self, rag: Rag, data: JSONBody[DocumentCreate]) -> IngestResult:
        (result,) = await rag.ingest(documents=[data])
        return result

    @post("/batch", operation_id="ingestDocuments", summary="Ingest up to 100 texts (admin)")
    async def ingest_batch(self, rag: Rag, data: JSONBody[DocumentBatch]) -> list[IngestResult]:
        return await rag.ingest(documents=data.documents)

    @get("/{document_id:uuid}", operation_id="getDocument", summary="One stored chunk (admin)")
    async def get_document(self, rag: Rag, document_id: FromPath[UUID]) -> Document:
        return await rag.get_document(document_id=document_id)

    @delete("/{document_id:uuid}", operation_id="deleteDocument", summary="Delete a chunk (admin)")
    async def delete_document(self, rag: Rag, document_id: FromPath[UUID]) -> None:
        await rag.delete_document(document_id=document_id)

    @delete(
        operation_id="deleteSource",
        summary="Delete every chunk of a source (admin)",
        status_code=200,
    )
    async def delete_source(
        self,
        rag: Rag,
        source: Annotated[str, QueryParameter(min_length=1, max_length=500)],
    ) -> dict[str, int]:
        return {"deleted": await rag.delete_source(source=source)}


class SearchController(Controller):
    path = "/search"
    tags = ["rag"]

    @post(operation_id="search", summary="Hybrid, vector or lexical search", status_code=200)
    async def search(self, rag: Rag, data: JSONBody[SearchRequest]) -> SearchResult:
        return await rag.search(request=data)


class RagStatsController(Controller):
    path = "/rag/stats"
    tags = ["rag"]
    guards = [requires_admin]

    @get(operation_id="ragStats", summary="Searches, latency, zero results, index size (admin)")
    async def stats(
        self,
        rag: Rag,
        range_: StatsRange = "24h",
    ) -> RagStats:
        since, until = parse_range(range_)
        return await rag.stats(since=since, until=until)
