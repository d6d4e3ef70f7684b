"""May this sign-in attempt go ahead? At most N attempts per IP, and M per username, in a window, counted in Redis.

Counting in the service's Redis (not in the process) makes the limit hold across replicas. Every attempt counts,
before the password is checked, so parallel guesses cannot slip past the limit; a successful sign-in clears its
two counters. Once a counter is over the limit, even the right password waits for the window to end: otherwise
the limit would only slow a guesser down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class LoginThrottle:
    def __init__(
        self, client: redis.Redis, *, per_ip: int, per_user: int, window_s: int, prefix: str = "console:login"
    ) -> None:
        self.client = client
        self.limits = (per_ip, per_user)  # in the order of _keys
        self.window_s = window_s
        self.prefix = prefix

    def _keys(self, ip_key: str, user_key: str) -> list[str]:
        return [f"{self.prefix}:ip:{ip_key}", f"{self.prefix}:user:{user_key}"]

    async def attempt(self, *, ip_key: str, user_key: str) -> Verdict:
        """Count one attempt from this IP for this username; refuse it if either is over the limit."""
        keys = self._keys(ip_key, user_key)
        pipe: Any = self.client.pipeline(transaction=True)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, self.window_s, nx=True)  # the window starts at the first attempt
        for key in keys:
            pipe.ttl(key)
        results = await pipe.execute()
        counts = [int(results[0]), int(results[2])]
        ttls = [int(value) for value in results[4:6]]
        over = [ttl for count, ttl, limit in zip(counts, ttls, self.limits, strict=True) if count > limit]
        if over:
            return Verdict(allowed=False, retry_after_s=max(1, *over))
        return Verdict(allowed=True)

    async def succeeded(self, *, ip_key: str, user_key: str) -> None:
        await self.client.delete(*self._keys(ip_key, user_key))
