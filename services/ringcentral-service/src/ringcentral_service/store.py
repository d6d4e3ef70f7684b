"""Where the state every worker and replica must share lives: the token, the rate budgets and the refresh lock.

Redis holds it, so one login serves every process. Redis is a cache here: when it does not answer, this process
keeps going on its own copy in memory, and the price is one extra login, never a failed poll.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Deletes the lock only if it still holds our token, so a process whose lock expired cannot free someone else's.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

_WARN_EVERY_S = 60.0
# After a failure Redis is left alone this long: a client that retries with backoff can take seconds per command,
# and a poll must not pay that on every step while Redis is down.
_BYPASS_S = 30.0


def namespace_for(server_url: str, client_id: str, jwt: str) -> str:
    """One namespace per (server, app, user credential): a changed credential never reuses another one's token.

    The JWT enters only through a hash, and the key names nothing secret.
    """
    digest = hashlib.sha256("\x00".join((server_url.rstrip("/"), client_id, jwt)).encode()).hexdigest()
    return f"zaps:ringcentral:{digest[:16]}"


class SharedStore:
    """JSON values with a time to live, and a lock, under one namespace; in memory when Redis is down."""

    def __init__(self, client: redis.Redis | None, namespace: str, *, bypass_s: float = _BYPASS_S) -> None:
        self._client = client
        self.namespace = namespace
        self.bypass_s = bypass_s
        self._memory: dict[str, tuple[str, float | None]] = {}
        self._last_warning = -_WARN_EVERY_S
        self._bypass_until = 0.0

    @property
    def client(self) -> redis.Redis | None:
        """Redis, unless it failed less than `bypass_s` ago (then None: this process's memory serves)."""
        if self._client is None or time.monotonic() < self._bypass_until:
            return None
        return self._client

    def _key(self, name: str) -> str:
        return f"{self.namespace}:{name}"

    def _degraded(self, error: Exception, doing: str) -> None:
        now = time.monotonic()
        self._bypass_until = now + self.bypass_s
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            logger.warning(
                "ringcentral: shared store unavailable; using this process's memory",
                extra={"doing": doing, "error": type(error).__name__},
            )

    def _memory_get(self, key: str) -> str | None:
        item = self._memory.get(key)
        if item is None:
            return None
        value, expires_at = item
        if expires_at is not None and time.monotonic() >= expires_at:
            del self._memory[key]
            return None
        return value

    def _memory_set(self, key: str, value: str, ttl_s: float | None) -> None:
        self._memory[key] = (value, None if ttl_s is None else time.monotonic() + ttl_s)

    async def get_json(self, name: str) -> dict[str, Any] | None:
        key = self._key(name)
        client = self.client
        raw: str | None
        if client is None:
            raw = self._memory_get(key)
        else:
            try:
                found = await client.get(key)
            except (RedisError, OSError) as error:
                self._degraded(error, "read")
                raw = self._memory_get(key)
            else:
                raw = found.decode() if isinstance(found, bytes) else found
                if raw is None:
                    self._memory.pop(key, None)
                else:
                    self._memory_set(key, raw, None)
        if raw is None:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else None

    async def set_json(self, name: str, value: dict[str, Any], *, ttl_s: float | None = None) -> None:
        key = self._key(name)
        client = self.client
        raw = json.dumps(value, separators=(",", ":"))
        self._memory_set(key, raw, ttl_s)
        if client is None:
            return
        try:
            if ttl_s is None:
                await client.set(key, raw)
            else:
                await client.set(key, raw, px=max(int(ttl_s * 1000), 1))
        except (RedisError, OSError) as error:
            self._degraded(error, "write")

    async def acquire_lock(self, name: str, *, ttl_s: float) -> str | None:
        """A token if this process now holds the lock (SET NX PX), else None. The lock frees itself after ttl_s."""
        key = self._key(name)
        client = self.client
        token = secrets.token_hex(16)
        if client is not None:
            try:
                acquired = await client.set(key, token, nx=True, px=max(int(ttl_s * 1000), 1))
            except (RedisError, OSError) as error:
                self._degraded(error, "lock")
            else:
                return token if acquired else None
        if self._memory_get(key) is not None:
            return None
        self._memory_set(key, token, ttl_s)
        return token

    async def release_lock(self, name: str, token: str) -> None:
        key = self._key(name)
        client = self.client
        if self._memory_get(key) == token:
            del self._memory[key]
        if client is None:
            return
        try:
            await client.eval(_RELEASE, 1, key, token)
        except (RedisError, OSError) as error:
            # The lock then expires on its own; the others wait at most its time to live.
            self._degraded(error, "unlock")

    async def lock_held(self, name: str) -> bool:
        key = self._key(name)
        client = self.client
        if client is not None:
            try:
                return bool(await client.exists(key))
            except (RedisError, OSError) as error:
                self._degraded(error, "lock check")
        return self._memory_get(key) is not None
