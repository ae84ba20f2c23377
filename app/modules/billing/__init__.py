"""Billing: session usage counted against each user's quota."""

from pathlib import Path

from app.kernel.module import Module
from contracts.billing import BillingAPI

from .models import metadata
from .routes import QuotaAdminController, UsageController
from .service import BillingService

module = Module(
    name="billing",
    metadata=metadata,
    contract=BillingAPI,
    service=BillingService,
    routes=[UsageController, QuotaAdminController],
    migrations=Path(__file__).parent / "migrations",
)

__all__ = ["module"]
