"""Conversation: sessions, their messages, and how each message was routed."""

from pathlib import Path

from app.kernel.database import ModuleDatabase
from app.kernel.module import Module
from app.kernel.settings import Settings
from contracts.conversation import ConversationAPI
from contracts.record import Contracts

from .models import metadata
from .routes import ConversationStatsController, MessageController, SessionController
from .service import ConversationService


def build_service(
    database: ModuleDatabase, settings: Settings, contracts: Contracts
) -> ConversationAPI:
    return ConversationService(database, settings, tools=contracts.tools)


module = Module(
    name="conversation",
    metadata=metadata,
    contract=ConversationAPI,
    service=build_service,
    routes=[SessionController, MessageController, ConversationStatsController],
    migrations=Path(__file__).parent / "migrations",
    depends_on=["tools"],  # routing decisions name tools
)

__all__ = ["module"]
