from collections.abc import AsyncIterator

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.billing.service import BillingService
from app.modules.billing.settings import BillingSettings
from contracts.billing import BillingAPI
from tests.over_the_wire import MODES, contract_under_test


@pytest.fixture(params=MODES)
async def billing(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[BillingAPI]:
    """The billing contract with a small default plan (2 active, 3 per day): the service
    itself, and the same through its HTTP client against a real server of it."""
    plan = settings.with_values(
        BillingSettings, default_max_active_sessions=2, default_max_sessions_per_day=3
    )
    database = open_module_database("billing", plan)
    service = BillingService(database, plan)
    async with contract_under_test(request.param, "billing", service, database, plan) as api:
        yield api
