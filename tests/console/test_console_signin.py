"""Signing in to the console, and what it refuses: links that are expired, reused, not an
admin's or not links at all; a cross-site form without the CSRF token; a forged cookie."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from app.console import signin_link
from app.kernel.auth import create_token
from app.kernel.settings import Settings
from app.main import create_app
from tests.conftest import FAST_MODEL, JWT_SECRET
from tests.over_the_wire import InThreadServer

from .test_console_browser import link_for

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def base(tmp_path: Path, migrated_sqlite: Path) -> Iterator[str]:
    settings = Settings(
        data_dir=tmp_path / "var", jwt_secret=JWT_SECRET, embedding_model=FAST_MODEL
    )
    shutil.copytree(migrated_sqlite, settings.data_dir)
    with InThreadServer(create_app(settings)) as url:
        yield url


def test_a_link_signs_in_once_with_a_strict_httponly_cookie(base: str) -> None:
    link = signin_link(JWT_SECRET, base, "root")
    with httpx.Client() as browser:
        signed = browser.get(link)
        assert signed.status_code == 303 and signed.headers["location"] == "/console"
        cookie = next(
            c for c in signed.headers.get_list("set-cookie") if c.startswith("bulkhead_console=")
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert "Max-Age=1800" in cookie  # half an hour
        page = browser.get(f"{base}/console")
        assert page.status_code == 200 and "Modules" in page.text
    again = httpx.get(link)
    assert again.status_code == 401 and "used already" in again.text


@pytest.mark.parametrize(
    ("make_link", "status", "says"),
    [
        (lambda b: link_for(JWT_SECRET, b, admin=True, ttl_s=-5), 401, "expired"),
        (lambda b: link_for(JWT_SECRET, b, admin=False), 403, "for admins"),
        (lambda b: link_for(JWT_SECRET, b, admin=True, purpose="api"), 401, "not a console"),
        (lambda b: link_for("another-secret-" + "y" * 40, b, admin=True), 401, "not valid"),
        (
            lambda b: (
                f"{b}/console/signin?token="
                + create_token(JWT_SECRET, "root", admin=True, ttl=timedelta(hours=1))
            ),
            401,
            "not a console",
        ),
        (lambda b: f"{b}/console/signin", 401, "not valid"),
    ],
    ids=["expired", "not an admin", "other purpose", "forged", "an API token", "no token"],
)
def test_links_that_do_not_sign_in_get_a_clear_page(
    base: str, make_link: Callable[[str], str], status: int, says: str
) -> None:
    answer = httpx.get(make_link(base))
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert says in answer.text and "Traceback" not in answer.text
    assert "bulkhead_console=" not in answer.headers.get("set-cookie", "")


def test_actions_need_the_session_and_the_csrf_token(base: str) -> None:
    saga = uuid.uuid4()
    nobody = httpx.post(f"{base}/console/sagas/{saga}/retry")
    assert nobody.status_code in (401, 403)
    with httpx.Client() as browser:
        browser.get(signin_link(JWT_SECRET, base, "root"))
        # A page elsewhere posting to the console: the session would ride along (were it
        # not SameSite=Strict), but it cannot know the CSRF token.
        forged = browser.post(f"{base}/console/sagas/{saga}/retry", data={"_csrf_token": "guess"})
        assert forged.status_code == 403 and "That action was not taken" in forged.text
        token = browser.cookies["bulkhead_console_csrf"]
        honest = browser.post(f"{base}/console/sagas/{saga}/retry", data={"_csrf_token": token})
        assert honest.status_code == 303
        assert "was not retried" in browser.get(f"{base}/console").text  # no such saga


def test_a_forged_session_cookie_is_not_a_session(base: str) -> None:
    forged = httpx.get(f"{base}/console", cookies={"bulkhead_console": "eyJ1c2VyIjogInJvb3QifQ=="})
    assert forged.status_code == 401 and "Sign in to the console" in forged.text
