"""Analytics: a reporting read model built only from the other modules' events.

It never reads another module's tables or calls another module: what it knows, it was
told by an event, so it can be emptied and rebuilt by replaying the modules' outboxes
(`bulkhead analytics rebuild`).
"""

from pathlib import Path

from app.kernel.module import Module
from contracts.analytics import AnalyticsAPI

from .models import metadata
from .routes import AnalyticsController
from .service import AnalyticsService

module = Module(
    name="analytics",
    metadata=metadata,
    contract=AnalyticsAPI,
    service=AnalyticsService,
    routes=[AnalyticsController],
    migrations=Path(__file__).parent / "migrations",
)

__all__ = ["module"]
