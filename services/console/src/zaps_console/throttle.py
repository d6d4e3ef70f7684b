"""May this sign-in attempt go ahead? Per username *and* address: a few free tries, then a growing delay.

The count is kept per (username, address) pair, so a stranger's wrong guesses never slow the owner down at his own
address: only guesses from that same address at that same name do. Any name but the admin's counts under one
"other name" bucket per address, so guessing names from one address is slowed as much as guessing passwords.

After `free` attempts the pair may try once per delay, doubling from 1 s up to `max_delay_s`: a delay, never a
lockout. That bounds a guesser to about one try per `max_delay_s` per address; with scrypt hashes of passwords of 12
characters or more (docs/console.md), that is far too slow to matter, even from many addresses.

Counting in the service's Redis (not in the process) makes it hold across replicas. Every attempt counts before
the password is checked, so parallel guesses cannot slip past: the gate key is taken with SET NX, by one attempt
only. A successful sign-in clears its pair. The count is forgotten after `window_s` without an attempt.
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
        self, client: redis.Redis, *, free: int, max_delay_s: int, window_s: int, prefix: str = "console:login"
    ) -> None:
        self.client = client
        self.free = free
        self.max_delay_s = max_delay_s
        self.window_s = window_s
        self.prefix = prefix

    def _keys(self, pair_key: str) -> tuple[str, str]:
        return f"{self.prefix}:count:{pair_key}", f"{self.prefix}:gate:{pair_key}"

    def delay_after(self, failures: int) -> float:
        """The wait before the next try, after `failures` counted attempts."""
        if failures < self.free:
            return 0.0
        return float(min(self.max_delay_s, 2 ** (failures - self.free)))

    async def attempt(self, *, pair_key: str) -> Verdict:
        """Count one attempt for this (username, address) pair; refuse it while the pair must wait."""
        count_key, gate_key = self._keys(pair_key)
        pipe: Any = self.client.pipeline(transaction=True)
        pipe.incr(count_key)
        pipe.expire(count_key, self.window_s)
        count = int((await pipe.execute())[0])
        delay = self.delay_after(count - 1)
        if delay == 0:
            if self.delay_after(count):  # the last free try: later ones wait from now
                await self.client.set(gate_key, "1", px=int(self.delay_after(count) * 1000))
            return Verdict(allowed=True)
        # Only one attempt gets through per delay; the others are refused and not counted, so retrying early
        # does not make the owner's own wait longer.
        taken = await self.client.set(gate_key, "1", px=int(self.delay_after(count) * 1000), nx=True)
        if taken:
            return Verdict(allowed=True)
        await self.client.decr(count_key)
        wait_ms = int(await self.client.pttl(gate_key))
        return Verdict(allowed=False, retry_after_s=max(1, -(-wait_ms // 1000)))

    async def succeeded(self, *, pair_key: str) -> None:
        await self.client.delete(*self._keys(pair_key))
