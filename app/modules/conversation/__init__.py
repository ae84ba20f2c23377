"""Conversation: sessions, their messages, and how each message was routed."""

from pathlib import Path

from app.kernel.module import Module
from contracts.conversation import ConversationAPI

from .models import metadata
from .routes import ConversationStatsController, MessageController, SessionController
from .service import ConversationService

module = Module(
    name="conversation",
    metadata=metadata,
    contract=ConversationAPI,
    service=ConversationService,
    routes=[SessionController, MessageController, ConversationStatsController],
    migrations=Path(__file__).parent / "migrations",
    depends_on=["tools"],  # routing decisions name tools
)

__all__ = ["module"]
