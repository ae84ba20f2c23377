"""What the tests of PostgreSQL's own behaviour share."""

from dataclasses import replace
from pathlib import Path

import pytest

from app.kernel.settings import Settings
from tests.conftest import FAST_MODEL, empty_postgres_tables


@pytest.fixture
async def postgres_settings(postgres_urls: dict[str, str], tmp_path: Path) -> Settings:
    """Settings on this run's PostgreSQL databases, emptied of earlier tests' rows."""
    await empty_postgres_tables(postgres_urls)
    return replace(
        Settings(data_dir=tmp_path / "var", embedding_model=FAST_MODEL), database_urls=postgres_urls
    )
