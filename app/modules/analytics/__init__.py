"""Analytics: a reporting read model built only from the other modules' events.

It never reads another module's tables or calls another module: what it knows, it was
told by an event, so it can be emptied and rebuilt by replaying the modules' outboxes
(`bulkhead analytics rebuild`).
"""

from pathlib import Path

from app.kernel.database import ModuleDatabase
from app.kernel.module import Module
from app.kernel.settings import Settings
from contracts.analytics import AnalyticsAPI
from contracts.record import Contracts

from .models import metadata
from .routes import AnalyticsController
from .service import AnalyticsService


def build_service(
    database: ModuleDatabase, settings: Settings, contracts: Contracts
) -> AnalyticsAPI:
    return AnalyticsService(database, settings)


module = Module(
    name="analytics",
    metadata=metadata,
    contract=AnalyticsAPI,
    service=build_service,
    routes=[AnalyticsController],
    migrations=Path(__file__).parent / "migrations",
)

__all__ = ["module"]
