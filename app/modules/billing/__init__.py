"""Billing: session usage counted against each user's quota."""

from pathlib import Path

from app.kernel.database import ModuleDatabase
from app.kernel.module import Module
from app.kernel.settings import Settings
from contracts.billing import BillingAPI
from contracts.record import Contracts

from .models import metadata
from .routes import QuotaAdminController, UsageController
from .service import BillingService
from .settings import BillingSettings


def build_service(database: ModuleDatabase, settings: Settings, contracts: Contracts) -> BillingAPI:
    return BillingService(database, settings)


module = Module(
    name="billing",
    metadata=metadata,
    contract=BillingAPI,
    service=build_service,
    routes=[UsageController, QuotaAdminController],
    migrations=Path(__file__).parent / "migrations",
    settings=BillingSettings,
)

__all__ = ["module"]
