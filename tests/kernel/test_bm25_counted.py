"""`bm25_counted`, FTS5's BM25 with each phrase's rows given: bm25()'s scores to the bit
when the counts are current, whatever the expression; a count that no longer holds
still scores; a wrong number of counts is an error, never a silent misscore."""

import logging
import math
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlean

from app.kernel import bm25_counted
from app.kernel.fts5_search import TOKENIZE, any_of
from app.kernel.sqlite import open_module_connection

WORDS = [f"w{i}" for i in range(30)]


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlean.Connection]:
    """A module's connection (the extension loaded as for every module), over rows of
    3-12 words, a few words in many rows, some words said twice, and some rows with a
    word FTS5 splits in two terms (`snake_case`)."""
    connection = open_module_connection(tmp_path / "words.sqlite3", 1000)
    connection.execute(
        f"CREATE VIRTUAL TABLE t USING fts5(content, k UNINDEXED, tokenize = '{TOKENIZE}')"
    )
    connection.execute("CREATE VIRTUAL TABLE t_vocab USING fts5vocab(t, row)")
    rng = random.Random(7)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    rows = []
    for i in range(800):
        words = rng.choices(WORDS, weights, k=rng.randint(3, 12))
        if i % 10 == 0:
            words.append("snake_case")
        rows.append((" ".join(words), str(i)))
    connection.executemany("INSERT INTO t (content, k) VALUES (?, ?)", rows)
    yield connection
    connection.close()


def _rows_holding(connection: sqlean.Connection, word: str) -> int:
    found = connection.execute("SELECT doc FROM t_vocab WHERE term = ?", (word,)).fetchone()
    return 0 if found is None else int(found[0])


def _scores(
    connection: sqlean.Connection, rank: str, match: str, counts: list[int | None]
) -> list[tuple[int, float]]:
    found = connection.execute(
        f"SELECT rowid, {rank} AS score FROM t WHERE t MATCH ? ORDER BY score, rowid",
        (*counts, match),
    )
    return [(int(rowid), float(score)) for rowid, score in found]


def test_the_extension_is_built_and_every_module_connection_has_it(
    connection: sqlean.Connection,
) -> None:
    assert bm25_counted.built(), "run `make install`: it builds the extension"
    assert _scores(connection, "bm25_counted(t, ?)", any_of(["w3"]), [None])


@pytest.mark.parametrize(
    "groups",
    [
        [["w0"]],
        [["w5", "w17", "w29"]],
        [["w20", "w25"], ["w0", "w1", "w2"]],  # (rare) AND (common), as a first stage
        [["w11", "snake_case"], ["w0"]],
    ],
)
def test_scores_are_bm25s_to_the_bit_with_current_counts(
    connection: sqlean.Connection, groups: list[list[str]]
) -> None:
    match = " AND ".join(any_of(group) for group in groups)
    named = [word for group in groups for word in group]  # in the MATCH's order
    # `snake_case` is a phrase of two terms: its rows are counted by the extension.
    counts = [None if "_" in w else _rows_holding(connection, w) for w in named]
    given = ", ".join("?" for _ in named)
    expected = _scores(connection, "bm25(t)", match, [])
    assert expected
    assert _scores(connection, f"bm25_counted(t, {given})", match, counts) == expected
    # Counted by the extension itself, every phrase: the same again.
    nulls: list[int | None] = [None] * len(named)
    assert _scores(connection, f"bm25_counted(t, {given})", match, nulls) == expected


def test_counts_that_no_longer_hold_still_score(connection: sqlean.Connection) -> None:
    """Counts are a minute old at most (`term_counts`): one above the table's rows (rows
    deleted since) or below zero scores as the nearest possible count, never NaN."""
    for stale in (10**9, -5, 0):
        found = _scores(connection, "bm25_counted(t, ?)", any_of(["w4"]), [stale])
        assert found and all(math.isfinite(score) and score < 0 for _, score in found)


def test_a_wrong_number_of_counts_is_an_error(connection: sqlean.Connection) -> None:
    with pytest.raises(sqlean.OperationalError, match="1 counts given for 2 phrases"):
        _scores(connection, "bm25_counted(t, ?)", any_of(["w1", "w2"]), [3])


def test_unbuilt_the_search_ranks_with_bm25_after_one_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(bm25_counted, "LIBRARY", tmp_path / "libbm25counted.so")
    bm25_counted.built.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=bm25_counted.__name__):
            assert bm25_counted.rank("t", [1, None], "held") == ("bm25(t)", {})
            bm25_counted.rank("t", [1], "held")
        assert [r.getMessage() for r in caplog.records if "make install" in r.getMessage()]
        assert len(caplog.records) == 1
    finally:
        monkeypatch.undo()
        bm25_counted.built.cache_clear()
    assert bm25_counted.rank("t", [1, None], "held") == (
        "bm25_counted(t, :held_0, :held_1)",
        {"held_0": 1, "held_1": None},
    )
