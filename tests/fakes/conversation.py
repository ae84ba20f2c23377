"""An in-memory stand-in for `ConversationAPI`, for modules that only ask whose a session is.

`as_api()` hands it over as one: it implements only `get_session`, all memory calls.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

from contracts.conversation import ConversationAPI, Session, SessionNotFound


class FakeConversation:
    def __init__(self) -> None:
        self.owners: dict[uuid.UUID, str] = {}

    def as_api(self) -> ConversationAPI:
        return cast(ConversationAPI, self)  # the part of it the module under test calls

    def open_session(self, user_id: str) -> uuid.UUID:
        session_id = uuid.uuid4()
        self.owners[session_id] = user_id
        return session_id

    async def get_session(self, *, session_id: uuid.UUID, user_id: str) -> Session:
        if self.owners.get(session_id) != user_id:
            raise SessionNotFound(f"no session {session_id}", field="session_id")
        now = datetime.now(UTC)
        return Session(
            id=session_id,
            user_id=user_id,
            title=None,
            status="open",
            metadata={},
            message_count=0,
            created_at=now,
            updated_at=now,
        )
