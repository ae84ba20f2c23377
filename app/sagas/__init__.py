"""Cross-module writes: durable sagas whose steps are contract calls with compensations.

Imports `contracts` only, never `app.modules` (`importlinter.ini`). The saga store has its
own database (never a module's), described like a module so the kernel migrates,
provisions and health-checks it the same way.
"""

from pathlib import Path

from app.kernel.database import ModuleDatabase
from app.kernel.module import Module
from app.kernel.settings import Settings
from contracts.record import Contracts
from contracts.sagas import SagaAdminAPI

from .engine import SAGA_TYPES
from .models import metadata
from .orchestrator import SagaOrchestrator
from .routes import SagaAdminController, SessionSagaController, UserDeletionController
from .settings import SagaSettings


def build_orchestrator(
    database: ModuleDatabase, settings: Settings, contracts: Contracts
) -> SagaAdminAPI:
    return SagaOrchestrator(database, settings, contracts)


# The saga store's database, described like a module's so the kernel migrates,
# provisions and health-checks it the same way; it is not a module of the registry.
SAGA_STORE = Module(
    name="sagas",
    metadata=metadata,
    contract=SagaAdminAPI,
    service=build_orchestrator,
    routes=[SessionSagaController, SagaAdminController, UserDeletionController],
    migrations=Path(__file__).parent / "migrations",
    settings=SagaSettings,
)

__all__ = ["SAGA_STORE", "SAGA_TYPES", "SagaOrchestrator"]
