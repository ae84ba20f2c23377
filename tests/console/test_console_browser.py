"""The console in a real headless Chromium against a real server: signed in by a one-time
link, every module on the page, a stuck saga retried and a dead letter resubmitted from
their buttons, the page at a phone's width and a desktop's (screenshots kept as
artifacts), and a non-admin refused."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from app.console import signin_link
from app.kernel.auth import ALGORITHM, ISSUER
from app.kernel.database import open_module_database
from app.kernel.events.settings import EventsSettings
from app.kernel.settings import Settings
from app.main import bind_modules, create_app
from app.sagas import SAGA_STORE, SagaOrchestrator
from app.sagas.create_session import CREATE_SESSION
from app.sagas.settings import SagaSettings
from contracts.billing import QuotaUpdate
from tests.conftest import FAST_MODEL, JWT_SECRET
from tests.events.test_consumers import poison_analytics
from tests.over_the_wire import InThreadServer
from tests.sagas.conftest import Faulty

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("BULKHEAD_TEST_ARTIFACTS", "test-artifacts"))
MODULES = ["conversation", "billing", "rag", "tools", "memory", "analytics", "sagas"]
Auth = Callable[..., dict[str, str]]
INJECTED = "<img src=x onerror=\"document.title='pwned'\">"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (`make browser` installs them)",
)


@pytest.fixture
def settings(tmp_path: Path, migrated_sqlite: Path) -> Settings:
    base = Settings(data_dir=tmp_path / "var", jwt_secret=JWT_SECRET, embedding_model=FAST_MODEL)
    shutil.copytree(migrated_sqlite, base.data_dir)
    quick = base.with_values(EventsSettings, max_attempts=2, backoff_s=0.01)
    return quick.with_values(SagaSettings, backoff_s=0.005, max_attempts=2)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not fetch a driver
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def text_of(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], object]) -> None:
    """Until `condition` holds; an element that went with a page being replaced is asked
    again on the next page (Chrome reports it as stale, or as a node that no longer
    belongs to the document)."""

    def holds(d: WebDriver) -> object:
        try:
            return condition(d)
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc.msg):
                return False
            raise

    WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,)).until(holds)


async def stuck_saga(settings: Settings) -> uuid.UUID:
    """A create-session saga left in needs_attention by a process whose memory module
    kept failing to undo its step (billing refused the session: it had to compensate)."""
    wiring = bind_modules(settings)
    await wiring.contracts.billing.set_quota(
        user_id="alice", update=QuotaUpdate(max_active_sessions=0)
    )
    memory = Faulty(wiring.contracts.memory)
    memory.fail["cleanup"] = -1
    database = open_module_database(SAGA_STORE.name, settings)
    runner = SagaOrchestrator(database, settings, wiring.contracts.with_service("memory", memory))
    try:
        payload = {"user_id": "alice", "title": "stuck", "metadata": {}}
        saga = await runner.wait(await runner.start(CREATE_SESSION, payload), 20)
        assert saga.state == "needs_attention"
        return saga.id
    finally:
        await runner.stop_background()
        await database.dispose()


async def test_an_admin_runs_the_system_from_the_console(
    settings: Settings, auth: Auth, browser: WebDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings)
    poison = poison_analytics(None, app.state.events, monkeypatch)  # type: ignore[arg-type]  # the helper does not use its first argument
    poison.poisoned.add("mallory")
    # The error a handler raised is shown on the page: here it carries markup that would
    # run if the page did not escape it.
    monkeypatch.setattr(
        "tests.events.test_consumers.ValueError",
        lambda message: ValueError(f"{message} {INJECTED}"),
        raising=False,
    )
    saga_id = await stuck_saga(settings)
    with InThreadServer(app) as base:
        made = httpx.post(f"{base}/v1/sessions", json={"title": "x"}, headers=auth("mallory"))
        assert made.status_code == 201
        admin = auth("root", admin=True)
        for _ in range(100):  # the analytics consumer dead-letters mallory's event
            letters = httpx.get(f"{base}/v1/admin/events/dead-letters", headers=admin).json()
            if letters:
                break
            await asyncio.sleep(0.1)
        (letter,) = letters

        browser.get(signin_link(JWT_SECRET, base, "root"))
        wait_for(browser, lambda d: d.find_elements(By.ID, "modules"))
        rows = browser.find_elements(By.CSS_SELECTOR, "#modules tr[data-module]")
        assert [r.get_attribute("data-module") for r in rows] == MODULES
        assert all("up" in r.text and "this process" in r.text for r in rows)
        assert "password" not in text_of(browser).lower()

        for width, height, name in ((390, 844, "phone"), (1280, 1000, "desktop")):
            browser.set_window_size(width, height)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"the page is wider than a {name}'s screen by {overflow}px"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(str(ARTIFACTS / f"console-{name}.png"))

        card = browser.find_element(By.CSS_SELECTOR, f"[data-saga='{saga_id}']")
        assert "needs_attention" in card.text
        card.find_element(By.TAG_NAME, "button").click()
        wait_for(browser, lambda d: "taken up again" in text_of(d))
        assert not browser.find_elements(By.CSS_SELECTOR, f"[data-saga='{saga_id}']")

        dead = browser.find_element(By.CSS_SELECTOR, f"[data-dead-letter='{letter['id']}']")
        assert "cannot read session" in dead.text
        assert INJECTED in dead.text and browser.title != "pwned"  # shown as text, not run
        poison.poisoned.clear()  # the handler is fixed
        dead.find_element(By.TAG_NAME, "button").click()
        wait_for(browser, lambda d: "resubmitted: applied" in text_of(d))
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-dead-letter]")

        browser.get(f"{base}/schema/swagger")  # the API docs load with no internet
        wait_for(browser, lambda d: "Bulkhead" in text_of(d))
    saga = await bind_modules(settings).contracts.sagas.get_saga(saga_id=saga_id)
    assert saga.state in ("compensating", "compensated")


def link_for(
    secret: str, base: str, *, admin: bool, purpose: str = "console", ttl_s: int = 600
) -> str:
    """A sign-in link as `bulkhead console` writes one, with any claims (expired ones too)."""
    now = datetime.now(UTC)
    claims = {
        "sub": "someone",
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
        "iss": ISSUER,
        "jti": uuid.uuid4().hex,
        "extras": {"admin": admin, "purpose": purpose},
    }
    return f"{base}/console/signin?token={jwt.encode(claims, secret, ALGORITHM)}"


def test_a_non_admin_gets_a_clear_page_not_the_console(
    settings: Settings, browser: WebDriver
) -> None:
    with InThreadServer(create_app(settings)) as base:
        browser.get(link_for(JWT_SECRET, base, admin=False))
        wait_for(browser, lambda d: d.find_elements(By.TAG_NAME, "h2"))
        assert "The console is for admins" in text_of(browser)
        browser.get(f"{base}/console")
        assert "Sign in to the console" in text_of(browser)
        assert not browser.find_elements(By.ID, "modules")
