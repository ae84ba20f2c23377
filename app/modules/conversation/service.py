"""ConversationService: implements `contracts.conversation.ConversationAPI`.

One file (~370 lines) on purpose: sessions, messages and routing decisions share one
ownership check and one transaction per call (a message bumps its session's count, a
decision reads its message's session), so split apart each would reach into the other's
rows. Rows become DTOs in `views.py`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.columns import utcnow
from app.kernel.cursor import decode_cursor, encode_cursor
from app.kernel.database import ModuleDatabase
from app.kernel.events import EventHandlers, Outbox, ReplaysOutbox, user_of
from app.kernel.keyset import newest_first, page_limit
from app.kernel.settings import Settings
from app.kernel.validation import check_metadata_size, validated
from contracts.conversation import (
    ConversationStats,
    Message,
    MessageAppended,
    MessageCreate,
    MessageNotFound,
    MessagePage,
    RoutingDecided,
    RoutingDecision,
    RoutingDecisionCreate,
    RoutingDecisionExists,
    RoutingDecisionNotFound,
    Session,
    SessionClosed,
    SessionCreate,
    SessionCreated,
    SessionDeleted,
    SessionNotFound,
    SessionPage,
    UnknownTool,
)
from contracts.errors import InvalidInput
from contracts.events import EventEnvelope
from contracts.paging import DEFAULT_PAGE_LIMIT
from contracts.tools import ToolsAPI
from contracts.users import UserDeletionRequested

from .models import EVENT_TABLES, MessageRow, RoutingDecisionRow, SessionRow
from .tokens import count_tokens
from .views import to_decision, to_message, to_session


class ConversationService(ReplaysOutbox):
    def __init__(self, database: ModuleDatabase, settings: Settings, *, tools: ToolsAPI) -> None:
        self._db = database.claim("conversation")
        self._tools = tools
        self._outbox = Outbox("conversation", EVENT_TABLES)
        count_tokens("warm up")  # load the tokenizer now, not in the first request

    async def create_session(
        self, *, user_id: str, session: SessionCreate, idempotency_key: str | None = None
    ) -> Session:
        session = validated(session)
        check_metadata_size(session.metadata)
        if idempotency_key is not None and (found := await self._by_key(user_id, idempotency_key)):
            return found
        now = utcnow()
        row = SessionRow(
            id=uuid.uuid4(),
            user_id=user_id,
            title=session.title,
            status="open",
            meta=session.metadata,
            message_count=0,
            idempotency_key=idempotency_key,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.transaction() as tx:
                tx.add(row)
                await self._outbox.add(
                    tx,
                    SessionCreated(
                        user_id=user_id, session_id=row.id, title=row.title, created_at=now
                    ),
                    occurred_at=now,
                )
        except IntegrityError:
            # A concurrent call with the same key won the race: answer with its session.
            if idempotency_key is not None and (
                found := await self._by_key(user_id, idempotency_key)
            ):
                return found
            raise
        return to_session(row)

    async def get_session(self, *, session_id: uuid.UUID, user_id: str) -> Session:
        async with self._db.read() as tx:
            return to_session(await _owned_session(tx, session_id, user_id))

    async def list_sessions(
        self, *, user_id: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_LIMIT
    ) -> SessionPage:
        query = select(SessionRow).where(
            SessionRow.user_id == user_id, SessionRow.status != "deleted"
        )
        async with self._db.read() as tx:
            rows, next_cursor = await newest_first(
                tx,
                query,
                created_at=SessionRow.created_at,
                id_=SessionRow.id,
                listing="sessions",
                cursor=cursor,
                limit=limit,
            )
        return SessionPage(items=[to_session(r) for r in rows], next_cursor=next_cursor)

    async def close_session(self, *, session_id: uuid.UUID, user_id: str) -> Session:
        async with self._db.transaction() as tx:
            row = await _owned_session(tx, session_id, user_id)
            if row.status == "open":
                row.status, row.updated_at = "closed", utcnow()
            return to_session(row)

    async def delete_session(self, *, session_id: uuid.UUID, user_id: str) -> None:
        async with self._db.transaction() as tx:
            row = await tx.get(SessionRow, session_id)
            if row is None or row.user_id != user_id:
                raise SessionNotFound(f"no session {session_id}", field="session_id")
            if row.status == "deleted":
                return
            # The messages and decisions go; a tombstone stays so a retried delete succeeds.
            await tx.execute(delete(MessageRow).where(MessageRow.session_id == session_id))
            now = utcnow()
            row.status, row.title, row.meta = "deleted", None, {}
            row.updated_at = row.deleted_at = now
            await self._outbox.add(
                tx,
                SessionDeleted(user_id=user_id, session_id=session_id, deleted_at=now),
                occurred_at=now,
            )

    async def append_message(
        self, *, session_id: uuid.UUID, user_id: str, message: MessageCreate
    ) -> Message:
        message = validated(message)
        tokens = count_tokens(message.content)
        now = utcnow()
        async with self._db.transaction() as tx:
            # Taking the next seq is the first write, so concurrent appends to one
            # session queue on its row instead of racing for the same number.
            seq = await tx.scalar(
                update(SessionRow)
                .where(
                    SessionRow.id == session_id,
                    SessionRow.user_id == user_id,
                    SessionRow.status == "open",
                )
                .values(message_count=SessionRow.message_count + 1, updated_at=now)
                .returning(SessionRow.message_count)
            )
            if seq is None:
                current = await _owned_session(tx, session_id, user_id)
                raise SessionClosed(f"session {current.id} is closed; it takes no messages")
            row = MessageRow(
                id=uuid.uuid4(),
                session_id=session_id,
                seq=seq,
                role=message.role,
                content=message.content,
                tokens=tokens,
                created_at=now,
            )
            tx.add(row)
            await self._outbox.add(
                tx,
                MessageAppended(
                    user_id=user_id,
                    session_id=session_id,
                    message_id=row.id,
                    seq=seq,
                    role=message.role,
                    content=message.content,
                    tokens=tokens,
                    created_at=now,
                ),
                occurred_at=now,
            )
        return to_message(row)

    async def list_messages(
        self,
        *,
        session_id: uuid.UUID,
        user_id: str,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> MessagePage:
        limit = page_limit(limit)
        after = 0
        if cursor is not None:
            (after,) = decode_cursor(f"messages:{session_id}", cursor, (int,))
        async with self._db.read() as tx:
            await _owned_session(tx, session_id, user_id)
            rows = list(
                (
                    await tx.scalars(
                        select(MessageRow)
                        .where(MessageRow.session_id == session_id, MessageRow.seq > after)
                        .order_by(MessageRow.seq)
                        .limit(limit + 1)
                    )
                ).all()
            )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(f"messages:{session_id}", page[-1].seq) if more else None
        return MessagePage(items=[to_message(r) for r in page], next_cursor=next_cursor)

    async def recent_messages(
        self, *, session_id: uuid.UUID, user_id: str, limit: int = 20
    ) -> list[Message]:
        limit = page_limit(limit)
        async with self._db.read() as tx:
            await _owned_session(tx, session_id, user_id)
            rows = (
                await tx.scalars(
                    select(MessageRow)
                    .where(MessageRow.session_id == session_id)
                    .order_by(MessageRow.seq.desc())
                    .limit(limit)
                )
            ).all()
        return [to_message(r) for r in reversed(rows)]

    async def record_routing_decision(
        self, *, message_id: uuid.UUID, user_id: str, decision: RoutingDecisionCreate
    ) -> RoutingDecision:
        decision = validated(decision)
        await self._check_tool(decision)
        async with self._db.transaction() as tx:
            found = (
                await tx.execute(
                    select(SessionRow.user_id, MessageRow.session_id)
                    .join(MessageRow, MessageRow.session_id == SessionRow.id)
                    .where(MessageRow.id == message_id)
                )
            ).one_or_none()
            if found is None or found.user_id != user_id:
                raise MessageNotFound(f"no message {message_id}", field="message_id")
            session_id = found.session_id
            existing = await tx.scalar(
                select(RoutingDecisionRow.id).where(RoutingDecisionRow.message_id == message_id)
            )
            if existing is not None:
                raise RoutingDecisionExists(f"message {message_id} already has a decision")
            row = RoutingDecisionRow(
                id=uuid.uuid4(),
                message_id=message_id,
                intent=decision.intent,
                confidence=decision.confidence,
                tool_name=decision.tool_name,
                tool_version=decision.tool_version,
                created_at=utcnow(),
            )
            tx.add(row)
            await self._outbox.add(
                tx,
                RoutingDecided(
                    user_id=user_id,
                    session_id=session_id,
                    message_id=message_id,
                    intent=row.intent,
                    confidence=row.confidence,
                    tool_name=row.tool_name,
                    created_at=row.created_at,
                ),
                occurred_at=row.created_at,
            )
        return to_decision(row)

    async def get_routing_decision(self, *, message_id: uuid.UUID, user_id: str) -> RoutingDecision:
        async with self._db.read() as tx:
            row = await tx.scalar(
                select(RoutingDecisionRow)
                .join(MessageRow, MessageRow.id == RoutingDecisionRow.message_id)
                .join(SessionRow, SessionRow.id == MessageRow.session_id)
                .where(RoutingDecisionRow.message_id == message_id, SessionRow.user_id == user_id)
            )
        if row is None:
            raise RoutingDecisionNotFound(f"no routing decision for message {message_id}")
        return to_decision(row)

    async def _check_tool(self, decision: RoutingDecisionCreate) -> None:
        """A reference into the tools module is checked through its contract when stored."""
        if decision.tool_name is None:
            if decision.tool_version is not None:
                raise InvalidInput("tool_version needs a tool_name", field="tool_version")
            return
        if not await self._tools.exists(name=decision.tool_name, version=decision.tool_version):
            which = f" version {decision.tool_version}" if decision.tool_version else ""
            raise UnknownTool(f"no tool {decision.tool_name!r}{which}", field="tool_name")

    async def stats(self, *, since: datetime, until: datetime) -> ConversationStats:
        async with self._db.read() as tx:
            sessions = await tx.scalar(
                select(func.count())
                .select_from(SessionRow)
                .where(SessionRow.created_at >= since, SessionRow.created_at < until)
            )
            messages, tokens = (
                await tx.execute(
                    select(func.count(), func.coalesce(func.sum(MessageRow.tokens), 0)).where(
                        MessageRow.created_at >= since, MessageRow.created_at < until
                    )
                )
            ).one()
            by_intent = (
                await tx.execute(
                    select(RoutingDecisionRow.intent, func.count())
                    .where(
                        RoutingDecisionRow.created_at >= since,
                        RoutingDecisionRow.created_at < until,
                    )
                    .group_by(RoutingDecisionRow.intent)
                )
            ).all()
        return ConversationStats(
            since=since,
            until=until,
            sessions_created=sessions or 0,
            messages=messages,
            tokens=int(tokens),
            decisions_by_intent={intent: count for intent, count in by_intent},
        )

    # -- events ------------------------------------------------------------------------

    def event_handlers(self) -> EventHandlers:
        return EventHandlers().on(UserDeletionRequested, self._forget_user)

    async def _forget_user(
        self, tx: AsyncSession, event: UserDeletionRequested, _: EventEnvelope
    ) -> None:
        """Every session of the user goes, tombstones too, with their events."""
        user_id = user_of(event)
        sessions = select(SessionRow.id).where(SessionRow.user_id == user_id)
        messages = select(MessageRow.id).where(MessageRow.session_id.in_(sessions))
        await tx.execute(
            delete(RoutingDecisionRow).where(RoutingDecisionRow.message_id.in_(messages))
        )
        await tx.execute(delete(MessageRow).where(MessageRow.session_id.in_(sessions)))
        await tx.execute(delete(SessionRow).where(SessionRow.user_id == user_id))
        await self._outbox.forget_user(tx, user_id)

    async def _by_key(self, user_id: str, key: str) -> Session | None:
        async with self._db.read() as tx:
            row = await tx.scalar(
                select(SessionRow).where(
                    SessionRow.user_id == user_id, SessionRow.idempotency_key == key
                )
            )
        return to_session(row) if row is not None else None


async def _owned_session(tx: AsyncSession, session_id: uuid.UUID, user_id: str) -> SessionRow:
    """The caller's live session, or `SessionNotFound` (also for another user's)."""
    row = await tx.get(SessionRow, session_id)
    if row is None or row.user_id != user_id or row.status == "deleted":
        raise SessionNotFound(f"no session {session_id}", field="session_id")
    return row
