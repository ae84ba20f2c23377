from collections.abc import AsyncIterator

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.billing.service import BillingService
from app.modules.billing.settings import BillingSettings
from contracts.billing import BillingAPI


@pytest.fixture
async def billing(settings: Settings) -> AsyncIterator[BillingAPI]:
    """The billing service with a small default plan: 2 active, 3 per day."""
    plan = settings.with_values(
        BillingSettings, default_max_active_sessions=2, default_max_sessions_per_day=3
    )
    database = open_module_database("billing", plan)
    yield BillingService(database, plan)
    await database.dispose()
