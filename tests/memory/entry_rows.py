"""A `memory_entries` row as the service would write it, for tests that insert in bulk."""

import uuid
from datetime import datetime
from typing import Any


def entry_row(
    entry_id: uuid.UUID, owner: str, embedding: Any, model_name: str, now: datetime
) -> dict[str, Any]:
    """A current fact of `owner`'s, never recalled, whose text and hash name its id."""
    return {
        "id": entry_id,
        "root_id": entry_id,
        "user_id": owner,
        "content": f"memory {entry_id}",
        "category": "fact",
        "importance": 0.5,
        "embedding": embedding,
        "model_name": model_name,
        "content_hash": entry_id.hex,
        "source_session_id": None,
        "access_count": 0,
        "last_accessed_at": now,
        "valid_from": now,
        "valid_to": None,
        "superseded_by": None,
        "created_at": now,
    }
