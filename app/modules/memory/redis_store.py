"""Working memory in Redis (redis-py): a list per session and one sorted set of expiries.

Keys, all under `<BULKHEAD_REDIS_KEY_PREFIX>:memory:` and nothing else:
  ...:wm:<session_id>   the items, oldest first (a list capped with LTRIM)
  ...:wm-expiry         session id -> expiry in ms on the caller's clock (a sorted set)
Each operation is one Lua script, so it is atomic across workers; expiry is decided on the
caller's clock (tests move it), and the list also gets a real PEXPIREAT so Redis reclaims
what nobody reads again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.exceptions import RedisError

from contracts.memory import WorkingMemoryUnavailable

from .working_store import Stored

# KEYS: items, expiries. ARGV: session id, now ms, ttl ms, max items, items...
_CREATE = """
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
local now, expires = tonumber(ARGV[2]), tonumber(ARGV[2]) + tonumber(ARGV[3])
if not expiry or tonumber(expiry) <= now then
  redis.call('DEL', KEYS[1])
  for i = 5, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[4]), -1)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], expires, ARGV[1])
redis.call('PEXPIREAT', KEYS[1], expires)
return {expires, redis.call('LRANGE', KEYS[1], 0, -1)}
"""
# ARGV: session id, now ms, ttl ms, max items (append: then the items)
_TOUCH = """
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
local now, expires = tonumber(ARGV[2]), tonumber(ARGV[2]) + tonumber(ARGV[3])
if not expiry or tonumber(expiry) <= now then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
if #ARGV >= 5 then
  for i = 5, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[4]), -1)
end
redis.call('ZADD', KEYS[2], expires, ARGV[1])
redis.call('PEXPIREAT', KEYS[1], expires)
return {expires, redis.call('LRANGE', KEYS[1], 0, -1)}
"""


class RedisStore:
    backend: Literal["redis", "database", "in-process"] = "redis"

    def __init__(self, url: str, key_prefix: str) -> None:
        self._url = url
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=2.0, health_check_interval=30
        )
        self._prefix = f"{key_prefix}:memory"
        self._create = self._client.register_script(_CREATE)
        self._touch = self._client.register_script(_TOUCH)

    async def create(
        self, session_id: str, items: list[bytes], *, ttl_s: int, max_items: int, now: datetime
    ) -> Stored:
        found = await self._call(
            self._create, session_id, [_ms(now), ttl_s * 1000, max_items, *items]
        )
        assert found is not None  # create always answers
        return found

    async def append(
        self, session_id: str, items: list[bytes], *, ttl_s: int, max_items: int, now: datetime
    ) -> Stored | None:
        args = [_ms(now), ttl_s * 1000, max_items, *items]
        return await self._call(self._touch, session_id, args)

    async def read(self, session_id: str, *, ttl_s: int, now: datetime) -> Stored | None:
        return await self._call(self._touch, session_id, [_ms(now), ttl_s * 1000, 0])

    async def prefetch(self, session_ids: list[str]) -> None:
        return None  # each operation is one script call already

    async def delete(self, session_ids: list[str]) -> None:
        if not session_ids:
            return
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(*(self._items_key(s) for s in session_ids))
                pipe.zrem(self._expiry_key, *session_ids)
                await pipe.execute()
        except RedisError as exc:
            raise self._unavailable(exc) from exc

    async def live_sessions(self, *, now: datetime) -> int:
        try:
            return int(await self._client.zcount(self._expiry_key, f"({_ms(now)}", "+inf"))
        except RedisError as exc:
            raise self._unavailable(exc) from exc

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except RedisError as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, script: object, session_id: str, args: list[object]) -> Stored | None:
        keys = [self._items_key(session_id), self._expiry_key]
        try:
            answer = await script(keys=keys, args=[session_id, *args])  # type: ignore[operator]  # redis-py's Script is untyped as a callable
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        if not answer:
            return None
        expires, items = answer
        return Stored(
            items=list(items), expires_at=datetime.fromtimestamp(int(expires) / 1000, UTC)
        )

    def _items_key(self, session_id: str) -> str:
        return f"{self._prefix}:wm:{session_id}"

    @property
    def _expiry_key(self) -> str:
        return f"{self._prefix}:wm-expiry"

    def _unavailable(self, exc: RedisError) -> WorkingMemoryUnavailable:
        return WorkingMemoryUnavailable(
            f"working memory is unavailable: Redis at {_where(self._url)} answered "
            f"{type(exc).__name__}"
        )


def _where(url: str) -> str:
    """Host, port and database of a Redis URL, never its password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}{parts.path}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
