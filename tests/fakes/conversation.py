"""An in-memory stand-in for `ConversationAPI`, for modules that only ask whose a session is."""

from __future__ import annotations

import uuid

from contracts.conversation import SessionNotFound


class FakeConversation:
    def __init__(self) -> None:
        self.owners: dict[uuid.UUID, str] = {}

    def open_session(self, user_id: str) -> uuid.UUID:
        session_id = uuid.uuid4()
        self.owners[session_id] = user_id
        return session_id

    async def get_session(self, *, session_id: uuid.UUID, user_id: str) -> object:
        if self.owners.get(session_id) != user_id:
            raise SessionNotFound(f"no session {session_id}", field="session_id")
        return session_id
