"""Word search in two stages when a query's words are in more rows than the budget: the
rarest words find the rows, and every word scores them, as one stage would (BM25 from
how many rows hold each word: PostgreSQL's statistics, SQLite's fts5vocab table)."""

from typing import Any

import pytest
from sqlalchemy import event, select, text

from app.kernel import fts5_search, lexeme_statistics, postgres_bm25, recent
from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.recent import Recent
from app.kernel.settings import Settings
from app.modules.rag import lexical_index
from app.modules.rag.models import DocumentRow
from app.modules.rag.service import RagService
from contracts.rag import DocumentCreate, SearchFilters

COMMON = [
    DocumentCreate(source=f"common/{i}", text=f"Cats sleep all day, story {i}.") for i in range(60)
]


def budget(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    """Both backends' budget of rows for one stage."""
    monkeypatch.setattr(postgres_bm25, "POSTINGS_BUDGET", rows)
    monkeypatch.setattr(fts5_search, "POSTINGS_BUDGET", rows)


async def ingest_counted(
    database: ModuleDatabase, settings: Settings, documents: list[DocumentCreate]
) -> None:
    """The documents, with PostgreSQL's statistics of them taken (SQLite counts as it goes)."""
    await RagService(database, settings).ingest(documents=documents)
    if database.dialect == "postgresql":
        async with database.transaction() as tx:
            await tx.execute(text("ANALYZE documents"))


RARE = [
    DocumentCreate(source="rare/1", text="Parrots mimic speech; cats ignore parrots."),
    DocumentCreate(source="rare/2", text="Parrots live long."),
]


async def test_the_rarest_words_find_and_every_word_ranks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = open_module_database("rag", settings)
    try:
        await ingest_counted(database, settings, COMMON + RARE)
        async with database.read() as tx:
            one_stage = await lexical_index.search(tx, "cats parrots", 5, SearchFilters())
            budget(monkeypatch, 10)
            two_stage = await lexical_index.search(tx, "cats parrots", 5, SearchFilters())
        # Only the parrot documents hold the rare word: they lead when every row is
        # scored, in the same order and with the same scores, and cats alone no longer
        # make a candidate.
        assert [d for d, _ in two_stage] == [d for d, _ in one_stage[:2]]
        assert [s for _, s in two_stage] == pytest.approx([s for _, s in one_stage[:2]])
        assert len(two_stage) == 2 and two_stage[0][1] > two_stage[1][1]
    finally:
        await database.dispose()


async def test_how_many_rows_hold_each_word(settings: Settings) -> None:
    """What the budget is counted in: on SQLite, as FTS5 indexes the words (stemmed)."""
    database = open_module_database("rag", settings)
    try:
        await ingest_counted(database, settings, COMMON + RARE)
        async with database.read() as tx:
            if database.dialect == "sqlite":
                held = await lexical_index.INDEX.fts5.rows_holding(tx, ["cats", "parrots", "emu"])
                assert held == {"cats": 61, "parrots": 2, "emu": 0}
                return
            lexicon = await lexical_index.INDEX.postgres.lexicon(tx, ["cats", "parrots"])
        assert lexicon.terms(["cats", "parrots"]) == ["cat", "parrot"]
        assert lexicon.rows_holding["cat"] > 50 and lexicon.rows_holding["parrot"] < 10
        assert lexicon.idf("parrot") > 10 * lexicon.idf("cat")
        assert lexicon.affordable(["cat", "parrot"], 10) == ["parrot"]
    finally:
        await database.dispose()


async def test_a_table_emptied_since_it_was_analysed_still_searches(settings: Settings) -> None:
    """TRUNCATE leaves ANALYZE's lexemes and counts the table's rows as -1: a word's
    share of -1 rows must not make a negative count (a math error, a 500, before)."""
    database = open_module_database("rag", settings)
    if database.dialect != "postgresql":
        await database.dispose()
        pytest.skip("PostgreSQL's statistics")
    try:
        rag = RagService(database, settings)
        await rag.ingest(documents=COMMON + RARE)
        async with database.transaction() as tx:
            await tx.execute(text("ANALYZE documents"))
            await tx.execute(text("TRUNCATE documents CASCADE"))
        await rag.ingest(documents=RARE)
        async with database.read() as tx:
            found = await lexical_index.search(tx, "cats parrots", 5, SearchFilters())
        assert len(found) == 2
    finally:
        await database.dispose()


async def test_the_first_stage_counts_the_common_words_a_row_holds(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parrots are rare and cats less so; only parrots fit the budget. The chunk holding
    both ranks first by BM25, above chunks saying "parrot" three times. With room for
    two candidates, PostgreSQL's first stage must keep it: ranked by how often the rare
    word occurs (`ts_rank`, as it was), the three-parrot chunks crowded it out. (SQLite's
    scores every row holding a rare word.)"""
    database = open_module_database("rag", settings)
    documents = [
        *(
            DocumentCreate(source=f"loud/{i}", text="Parrot, parrot, parrot sings.")
            for i in range(3)
        ),
        DocumentCreate(source="both", text="The parrot sings to the cat."),
        *(DocumentCreate(source=f"cat/{i}", text=f"A cat sleeps, day {i}.") for i in range(9)),
        *(DocumentCreate(source=f"other/{i}", text=f"Rain falls, day {i}.") for i in range(87)),
    ]
    try:
        await ingest_counted(database, settings, documents)
        async with database.read() as tx:
            one_stage = await lexical_index.search(tx, "parrot cat", 1, SearchFilters())
            budget(monkeypatch, 5)
            monkeypatch.setattr(postgres_bm25, "RESCORED", 2)
            two_stage = await lexical_index.search(tx, "parrot cat", 1, SearchFilters())
            found = await tx.execute(select(DocumentRow.id, DocumentRow.source))
            sources = {row[0]: row[1] for row in found}
        assert [sources[d] for d, _ in two_stage] == [sources[d] for d, _ in one_stage]
        # FTS5 counts "the" and "to" in a row's length, PostgreSQL only the words it
        # indexes: FTS5's one stage ranks a loud chunk first.
        if database.dialect == "postgresql":
            assert [sources[d] for d, _ in one_stage] == ["both"]
    finally:
        await database.dispose()


async def test_a_search_plans_for_its_own_words_and_leaves_the_connection_as_it_was(
    settings: Settings,
) -> None:
    """PostgreSQL: the search asks for custom plans (a generic plan parses each term's
    tsquery once a row), for its own transaction only: the pooled connection goes back
    to the next caller with the server's default."""
    database = open_module_database("rag", settings)
    if database.dialect != "postgresql":
        await database.dispose()
        pytest.skip("PostgreSQL's plan cache")
    try:
        await ingest_counted(database, settings, COMMON + RARE)
        async with database.read() as tx:
            default = await tx.scalar(text("SHOW plan_cache_mode"))
            await lexical_index.search(tx, "cats parrots", 5, SearchFilters())
            assert await tx.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        for _ in range(2 * settings.db_pool_size):  # whichever connection the pool hands out
            async with database.read() as tx:
                assert (
                    await tx.scalar(text("SHOW plan_cache_mode")) == default != "force_custom_plan"
                )
    finally:
        await database.dispose()


async def test_the_columns_statistics_are_read_once_a_while(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: ANALYZE's common lexemes, the rows and their average length are read
    once per `recent.FRESH_S` per database and column; the searches in between take
    them as read, and count the rarer words they meet themselves."""
    database = open_module_database("rag", settings)
    if database.dialect != "postgresql":
        await database.dispose()
        pytest.skip("PostgreSQL's statistics")
    clock = [0.0]
    monkeypatch.setattr(lexeme_statistics, "_KEPT", Recent(8, lambda: clock[0]))
    reads: list[str] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def record(*args: Any) -> None:
        if "pg_stats" in args[2]:
            reads.append(args[2])

    async def lexicon(words: list[str]) -> postgres_bm25.Lexicon:
        async with database.read() as tx:
            return await lexical_index.INDEX.postgres.lexicon(tx, words)

    try:
        await ingest_counted(database, settings, COMMON + RARE)
        first = await lexicon(["cats", "parrots"])
        assert first.rows == 62 and first.rows_holding == {"cat": 61, "parrot": 2}
        assert await lexicon(["parrots", "sleep"]) and len(reads) == 1

        parrot = DocumentCreate(source="rare/3", text="Parrots talk.")
        await ingest_counted(database, settings, [parrot, *cats(200)])  # analysed again
        assert await lexicon(["cats", "parrots"]) == first and len(reads) == 1
        clock[0] += recent.FRESH_S + 1
        anew = await lexicon(["cats", "parrots"])
        assert anew.rows == 263 and anew.rows_holding == {"cat": 261, "parrot": 3}
        assert len(reads) == 2
    finally:
        await database.dispose()


def cats(n: int) -> list[DocumentCreate]:
    return [DocumentCreate(source=f"more/{i}", text=f"Cats nap, note {i}.") for i in range(n)]
