"""Client-side pacing: at most one call per interval per key (a Slack channel), within one process.

Each caller reserves the next free slot of its key before it awaits, so concurrent steps of one worker queue up in
order instead of all sleeping the same interval and firing together. A server's own "wait N seconds"
(Retry-After) pushes the key's next slot back for everyone.
"""

from __future__ import annotations

import asyncio
import time


class Pace:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next: dict[str, float] = {}

    def reserve(self, key: str) -> float:
        """Seconds to wait before using `key`; the slot after it is reserved for the next caller."""
        now = time.monotonic()
        slot = max(now, self._next.get(key, 0.0))
        self._next[key] = slot + self.interval_s
        return slot - now

    async def wait(self, key: str) -> None:
        delay = self.reserve(key)
        if delay > 0:
            await asyncio.sleep(delay)

    def hold_off(self, key: str, seconds: float) -> None:
        """The server asked for a pause on `key`: no slot before `seconds` from now."""
        self._next[key] = max(self._next.get(key, 0.0), time.monotonic() + seconds)
