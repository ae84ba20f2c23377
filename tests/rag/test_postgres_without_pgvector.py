"""On a PostgreSQL without pgvector, provisioning warns and the RAG migration stops clearly."""

import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.kernel import provision
from tests.conftest import POSTGRES_ADMIN_URL, postgres_unavailable_reason, run_in_own_loop

pytestmark = pytest.mark.postgres


def test_rag_upgrade_stops_with_a_message_when_pgvector_is_missing(tmp_path: Path) -> None:
    if reason := postgres_unavailable_reason():
        pytest.skip(reason)
    prefix = f"bhnovec_{secrets.token_hex(4)}"
    output = tmp_path / "urls.json"
    try:
        done = run_in_own_loop(
            provision.provision(
                POSTGRES_ADMIN_URL,
                ["rag"],
                prefix=prefix,
                output=output,
                extensions={"rag": ["vector"]},
            )
        )
        if not done.warnings:
            pytest.skip("this PostgreSQL has pgvector; nothing to refuse")
        assert "extension 'vector' is not available" in done.warnings[0]
        result = CliRunner().invoke(
            main,
            ["db", "upgrade", "--module", "rag"],
            env={"BULKHEAD_DATA_DIR": str(tmp_path), "BULKHEAD_DATABASE_URLS_FILE": str(output)},
        )
        assert result.exit_code == 1
        assert "needs the pgvector extension" in result.output
        assert "Traceback" not in result.output
    finally:
        run_in_own_loop(provision.drop(POSTGRES_ADMIN_URL, ["rag"], prefix=prefix))
