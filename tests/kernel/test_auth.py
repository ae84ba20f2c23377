"""The JWT secret, tokens and the admin claim."""

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.cli import main
from app.kernel.auth import resolve_jwt_secret
from app.kernel.settings import Settings


def test_generated_secret_is_written_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = resolve_jwt_secret(settings)
    second = resolve_jwt_secret(settings)
    secret_file = tmp_path / "jwt-secret"
    assert first == second and len(first) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_secret_from_settings_wins_and_writes_no_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret="s" * 40)
    assert resolve_jwt_secret(settings) == "s" * 40
    assert not (tmp_path / "jwt-secret").exists()


def test_token_create_prints_the_token_alone(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["token", "create", "--user", "alice", "--admin", "--ttl", "2h"],
        env={"BULKHEAD_DATA_DIR": str(tmp_path), "BULKHEAD_JWT_SECRET": ""},
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert "\n" not in token
    claims = jwt.decode(
        token, resolve_jwt_secret(Settings(data_dir=tmp_path)), algorithms=["HS256"]
    )
    assert claims["sub"] == "alice" and claims["extras"]["admin"] is True
    assert 7100 < claims["exp"] - claims["iat"] <= 7200


def test_token_create_with_a_client_carries_the_client_claim(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["token", "create", "--user", "alice", "--client", "agent-a"],
        env={"BULKHEAD_DATA_DIR": str(tmp_path), "BULKHEAD_JWT_SECRET": ""},
    )
    assert result.exit_code == 0, result.output
    claims = jwt.decode(
        result.stdout.strip(),
        resolve_jwt_secret(Settings(data_dir=tmp_path)),
        algorithms=["HS256"],
    )
    assert claims["extras"] == {"client": "agent-a"}


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--ttl", "forever"], "--ttl"),
        (["--ttl", "1d"], "--user"),
        (["--client", "no spaces"], "--client"),
    ],
)
def test_token_create_refuses_bad_input(tmp_path: Path, args: list[str], hint: str) -> None:
    user = ["--user", "bad user!"] if hint == "--user" else ["--user", "alice"]
    result = CliRunner().invoke(
        main, ["token", "create", *user, *args], env={"BULKHEAD_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert hint in result.output


async def test_token_with_a_malformed_client_claim_is_401(
    client: AsyncTestClient[Litestar],
) -> None:
    from tests.conftest import JWT_SECRET

    claims = {
        "sub": "alice",
        "iss": "bulkhead",
        "exp": datetime.now(UTC) + timedelta(hours=1),
        "extras": {"client": "agent a; drop"},
    }
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    response = await client.get("/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_expired_token_is_401(client: AsyncTestClient[Litestar]) -> None:
    from tests.conftest import JWT_SECRET

    now = datetime.now(UTC)
    claims = {
        "sub": "alice",
        "iss": "bulkhead",
        "iat": now - timedelta(hours=2),
        "exp": now - timedelta(hours=1),
    }
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    response = await client.get("/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_options_on_an_admin_route_answers_without_a_token(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.options("/v1/conversation/stats")
    assert response.status_code == 204
    assert "GET" in response.headers["allow"]
