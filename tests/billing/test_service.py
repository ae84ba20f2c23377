"""BillingAPI: quotas, idempotency by key, release as compensation; SQLite and PostgreSQL."""

import asyncio
import uuid

import pytest

from contracts.billing import BillingAPI, QuotaExceeded, QuotaUpdate
from contracts.errors import Conflict, InvalidInput


async def test_register_counts_an_active_session(billing: BillingAPI) -> None:
    session_id = uuid.uuid4()
    registration = await billing.register_session(
        user_id="alice", session_id=session_id, idempotency_key="s1:register"
    )
    summary = await billing.usage_summary(user_id="alice")
    assert (registration.session_id, registration.released_at) == (session_id, None)
    assert (summary.active_sessions, summary.sessions_today, summary.sessions_total) == (1, 1, 1)


async def test_register_repeated_with_the_same_key_records_once(billing: BillingAPI) -> None:
    session_id = uuid.uuid4()
    first = await billing.register_session(
        user_id="alice", session_id=session_id, idempotency_key="k"
    )
    again = await billing.register_session(
        user_id="alice", session_id=session_id, idempotency_key="k"
    )
    assert first == again
    assert (await billing.usage_summary(user_id="alice")).active_sessions == 1


async def test_over_active_quota_raises_and_records_nothing(billing: BillingAPI) -> None:
    for i in range(2):
        await billing.register_session(
            user_id="alice", session_id=uuid.uuid4(), idempotency_key=f"{i}"
        )
    with pytest.raises(QuotaExceeded):
        await billing.register_session(
            user_id="alice", session_id=uuid.uuid4(), idempotency_key="x"
        )
    summary = await billing.usage_summary(user_id="alice")
    assert (summary.active_sessions, summary.sessions_total) == (2, 2)


async def test_release_frees_a_slot_but_not_the_daily_count(billing: BillingAPI) -> None:
    ids = [uuid.uuid4() for _ in range(4)]
    await billing.register_session(user_id="alice", session_id=ids[0], idempotency_key="r0")
    await billing.register_session(user_id="alice", session_id=ids[1], idempotency_key="r1")
    released = await billing.release_session(session_id=ids[0], idempotency_key="c0")
    assert released is not None and released.released_at is not None
    await billing.register_session(user_id="alice", session_id=ids[2], idempotency_key="r2")
    await billing.release_session(session_id=ids[1], idempotency_key="c1")
    with pytest.raises(QuotaExceeded, match="per day"):
        await billing.register_session(user_id="alice", session_id=ids[3], idempotency_key="r3")


async def test_release_is_idempotent_and_tolerates_a_session_never_registered(
    billing: BillingAPI,
) -> None:
    session_id = uuid.uuid4()
    assert await billing.release_session(session_id=session_id, idempotency_key="c") is None
    await billing.register_session(user_id="alice", session_id=session_id, idempotency_key="r")
    first = await billing.release_session(session_id=session_id, idempotency_key="c2")
    again = await billing.release_session(session_id=session_id, idempotency_key="c2")
    other_key = await billing.release_session(session_id=session_id, idempotency_key="c3")
    assert first == again == other_key
    assert (await billing.usage_summary(user_id="alice")).active_sessions == 0


async def test_key_spent_on_another_operation_is_a_conflict(billing: BillingAPI) -> None:
    session_id = uuid.uuid4()
    await billing.register_session(user_id="alice", session_id=session_id, idempotency_key="k")
    with pytest.raises(Conflict):
        await billing.release_session(session_id=session_id, idempotency_key="k")


async def test_concurrent_registrations_never_pass_the_quota(billing: BillingAPI) -> None:
    results = await asyncio.gather(
        *(
            billing.register_session(
                user_id="alice", session_id=uuid.uuid4(), idempotency_key=f"c{i}"
            )
            for i in range(8)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 2
    assert all(isinstance(r, QuotaExceeded) for r in results if isinstance(r, BaseException))
    assert (await billing.usage_summary(user_id="alice")).active_sessions == 2


async def test_set_quota_changes_only_the_given_fields(billing: BillingAPI) -> None:
    assert (await billing.get_quota(user_id="alice")).is_default
    quota = await billing.set_quota(user_id="alice", update=QuotaUpdate(max_active_sessions=5))
    assert (quota.max_active_sessions, quota.max_sessions_per_day, quota.is_default) == (
        5,
        3,
        False,
    )
    quota = await billing.set_quota(user_id="alice", update=QuotaUpdate(max_sessions_per_day=9))
    assert (quota.max_active_sessions, quota.max_sessions_per_day) == (5, 9)
    assert (await billing.get_quota(user_id="bob")).is_default


async def test_quota_of_zero_refuses_every_session(billing: BillingAPI) -> None:
    await billing.set_quota(user_id="alice", update=QuotaUpdate(max_active_sessions=0))
    with pytest.raises(QuotaExceeded):
        await billing.register_session(
            user_id="alice", session_id=uuid.uuid4(), idempotency_key="z"
        )


async def test_negative_quota_is_refused(billing: BillingAPI) -> None:
    with pytest.raises(InvalidInput):
        await billing.set_quota(user_id="alice", update=QuotaUpdate(max_active_sessions=-1))


async def test_stats_count_registrations_and_releases_in_range(billing: BillingAPI) -> None:
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC)
    sessions = [uuid.uuid4() for _ in range(2)]
    for user, session in zip(("alice", "bob"), sessions, strict=True):
        await billing.register_session(
            user_id=user, session_id=session, idempotency_key=f"k-{session}"
        )
    await billing.release_session(session_id=sessions[0], idempotency_key="release-1")
    after = datetime.now(UTC) + timedelta(seconds=1)
    stats = await billing.stats(since=before, until=after)
    assert (stats.sessions_registered, stats.sessions_released, stats.active_sessions) == (2, 1, 1)
    assert stats.users == 2
    empty = await billing.stats(since=after, until=after + timedelta(hours=1))
    assert (empty.sessions_registered, empty.sessions_released) == (0, 0)
    page = await billing.replay_events()  # its outbox, as an event source
    assert {e.user_id for e in page.items} >= {"alice", "bob"}
