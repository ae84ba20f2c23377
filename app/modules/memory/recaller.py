"""Recall: a user's memories best for a query, by meaning, words, importance, recency."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

from sqlalchemy import ColumnElement

from app.kernel.database import dialect_of
from app.kernel.embedding import Vectors
from app.kernel.validation import validated
from contracts.memory import (
    RecalledMemory,
    RecallQuery,
    RecallResult,
    ScoreFactors,
)

from . import recall, recall_bookkeeping, vector_index
from .models import RecallLogRow
from .part import MemoryPart
from .recall import Candidate


class Recaller(MemoryPart):
    """Scores the candidates, touches what it returns, and logs the latency."""

    async def recall(self, *, user_id: str, query: RecallQuery) -> RecallResult:
        query = validated(query)
        started = time.perf_counter()
        now = self._clock()
        where = recall.conditions(user_id, query.filters, now)
        embedding = asyncio.ensure_future(self._embedder.embed([query.query]))
        embedding.add_done_callback(_seen)
        try:
            # Both ways at once, each on its own connection: the word search needs the
            # query's vector only for its candidates' similarity, at its end, so it
            # overlaps the model's work on the query.
            by_meaning, (lexical, by_words) = await asyncio.gather(
                self._by_meaning(embedding, user_id, query, where),
                self._by_words(embedding, user_id, query, recall.filtered(query.filters, now)),
            )
        finally:
            embedding.cancel()  # done already, unless a database failed first
        found = {c.id: c for c in by_words} | {c.id: c for c in by_meaning}
        scored = self._best(list(found.values()), lexical, now, query.limit)
        latency_ms = (time.perf_counter() - started) * 1000
        log = RecallLogRow(
            id=uuid.uuid4(),
            user_id=user_id,
            results=len(scored),
            latency_ms=latency_ms,
            created_at=now,
        )
        ids = [c.id for _, c in scored]
        touched = await recall_bookkeeping.touch_and_log(self._db, ids, log, now)
        return RecallResult(
            items=[
                RecalledMemory(entry=recall.recalled(touched[c.id], c), factors=factors)
                for factors, c in scored
                if c.id in touched
            ],
            model_name=self._embedder.model_name,
            latency_ms=round(latency_ms, 3),
        )

    def _best(
        self,
        found: list[Candidate],
        lexical: dict[uuid.UUID, float],
        now: datetime,
        limit: int,
    ) -> list[tuple[ScoreFactors, Candidate]]:
        """The `limit` best candidates, each with its score's factors, made for those
        alone (ranking a hundred: 0.58 -> 0.33 ms of CPU)."""
        half_life_s = self._settings.half_life_s

        def rank(candidate: Candidate) -> tuple[float, uuid.UUID]:
            lexical_score = lexical.get(candidate.id, 0.0)
            best = recall.total(candidate, lexical=lexical_score, half_life_s=half_life_s, now=now)
            return -best, candidate.id

        return [
            (
                recall.score(c, lexical=lexical.get(c.id, 0.0), half_life_s=half_life_s, now=now),
                c,
            )
            for c in sorted(found, key=rank)[:limit]
        ]

    async def _by_meaning(
        self,
        embedding: asyncio.Future[Vectors],
        user_id: str,
        query: RecallQuery,
        where: list[ColumnElement[bool]],
    ) -> list[Candidate]:
        # The model runs while a connection is checked out and checked and the search
        # is made ready: those round trips leave the recall's longest leg (about 1 ms
        # each at p50, 100k memories); and a database that cannot be reached answers at
        # once, without the vector.
        async with self._db.read() as tx:
            k = max(recall.CANDIDATES_PER_WAY, query.limit)
            search = await vector_index.ready(tx, self._embedder.model_name, user_id, k)
            vector = (await embedding)[0]
            return await recall.by_meaning(tx, search, vector, where)

    async def _by_words(
        self,
        embedding: asyncio.Future[Vectors],
        user_id: str,
        query: RecallQuery,
        where: list[ColumnElement[bool]],
    ) -> tuple[dict[uuid.UUID, float], list[Candidate]]:
        """The lexical scores, and the candidates they name, read by the search itself
        once the query's vector is there (the vector is needed only for that read)."""
        async with self._db.read() as tx:
            scored = recall.scored_along(dialect_of(tx), self._embedder.model_name, embedding)
            return await recall.by_words(tx, user_id, query.query, where, query.limit, scored)


def _seen(done: asyncio.Future[Vectors]) -> None:
    """Mark a failed embedding's error as seen: when the database failed first, the
    recall raises that one, and nobody awaits the other."""
    if not done.cancelled():
        done.exception()
