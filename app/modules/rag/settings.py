"""The RAG module's settings: how documents are cut into chunks."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.setting import PREFIX, Integer, SettingsError, setting


@dataclass(frozen=True)
class RagSettings:
    chunk_size: int = setting(
        "RAG_CHUNK_SIZE",
        800,
        Integer(100),
        "characters per chunk, at most (chunks end on sentence or paragraph boundaries)",
    )
    chunk_overlap: int = setting(
        "RAG_CHUNK_OVERLAP",
        120,
        Integer(0),
        "characters of whole sentences repeated from the previous chunk; below half the size",
    )

    def __post_init__(self) -> None:
        if self.chunk_overlap >= self.chunk_size // 2:
            raise SettingsError(
                f"{PREFIX}RAG_CHUNK_OVERLAP",
                f"must be below half the chunk size ({self.chunk_size})",
            )
