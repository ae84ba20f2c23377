"""What every part of the memory service works with, built once by `MemoryService`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.kernel.database import ModuleDatabase
from app.kernel.embedding import Embedder
from app.kernel.events import Outbox
from contracts.conversation import ConversationAPI

from .settings import MemorySettings
from .working_memory import WorkingMemories


@dataclass(frozen=True)
class MemoryContext:
    db: ModuleDatabase
    outbox: Outbox
    settings: MemorySettings
    conversation: ConversationAPI
    working: WorkingMemories
    embedder: Embedder
    clock: Callable[[], datetime]


class MemoryPart:
    """A part of the service: its methods read the shared context as `self._db` and so on."""

    def __init__(self, context: MemoryContext) -> None:
        self._db = context.db
        self._outbox = context.outbox
        self._settings = context.settings
        self._conversation = context.conversation
        self._working = context.working
        self._embedder = context.embedder
        self._clock = context.clock
