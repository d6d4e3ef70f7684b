"""May this request go now, and if not, how long must it wait? Per-group budgets shared by every worker.

RingCentral counts requests per (user, app) pair and per usage-plan group (Heavy 10, Medium 40, Light 50, Auth 5 a
minute by default) over a sliding window, and reports what is left in `X-Rate-Limit-*` headers. A 429 starts a
penalty (60 s by default) and every request made during it starts the penalty again, so once a group is spent
every worker must stop sending to it, not only the one that saw the 429. Budgets therefore live in the shared
store, and a request waits for its group before it is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ringcentral_service.errors import RateLimited
from ringcentral_service.store import SharedStore

logger = logging.getLogger(__name__)

GROUPS = ("Heavy", "Medium", "Light", "Auth")
# Defaults from the Developer Guide, shown until the first answer of a group brings the real numbers.
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "Heavy": (10, 60),
    "Medium": (40, 60),
    "Light": (50, 60),
    "Auth": (5, 60),
}


@dataclass(frozen=True)
class Budget:
    group: str
    limit: int | None
    remaining: int | None
    window_s: float | None
    observed_at: float | None  # wall-clock time of the answer these numbers came from
    blocked_until: float = 0.0  # no request of this group before this wall-clock time

    def wait_s(self, now: float) -> float:
        return max(self.blocked_until - now, 0.0)


class RateBudgets:
    def __init__(
        self,
        store: SharedStore,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait_s: float = 60.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.sleep = sleep
        self.max_wait_s = max_wait_s

    @staticmethod
    def _name(group: str) -> str:
        return f"rate:{group}"

    async def get(self, group: str) -> Budget:
        stored = await self.store.get_json(self._name(group))
        if stored is None:
            limit, window = DEFAULT_LIMITS.get(group, (None, None))
            return Budget(group=group, limit=limit, remaining=None, window_s=window, observed_at=None)
        return Budget(**stored)

    async def snapshot(self) -> dict[str, Budget]:
        """Every known group as last observed (defaults for groups not called yet)."""
        return {group: await self.get(group) for group in GROUPS}

    async def wait_turn(self, group: str) -> None:
        """Return when a request of `group` may go; raise RateLimited if that is further away than max_wait_s."""
        waited = 0.0
        while True:
            budget = await self.get(group)
            wait = budget.wait_s(self.clock())
            if wait <= 0:
                return
            # Another worker may have extended the block while this one slept, hence the loop and the total.
            if waited + wait > self.max_wait_s:
                raise RateLimited(
                    f"RingCentral {group} budget is spent for {wait:.1f} s more; not sending",
                    retry_after=wait,
                    group=group,
                )
            logger.info("ringcentral: waiting for the rate budget", extra={"group": group, "wait_s": round(wait, 3)})
            await self.sleep(wait)
            waited += wait

    async def observe(self, group: str, status: int, headers: Mapping[str, str]) -> None:
        """Record the X-Rate-Limit-* headers of an answer; a spent budget blocks the group for one window.

        Budgets are kept under the group the spec names for the operation, not the header's X-Rate-Limit-Group:
        the Guide warns the names may change, and waiting must look where recording wrote. A 429 is left to
        `penalise`: its Retry-After, not the window, says when to send again.
        """
        if status == 429 or "x-rate-limit-remaining" not in headers:
            return
        try:
            limit = int(headers["x-rate-limit-limit"]) if "x-rate-limit-limit" in headers else None
            remaining = int(headers["x-rate-limit-remaining"])
            window = float(headers["x-rate-limit-window"]) if "x-rate-limit-window" in headers else None
        except ValueError:
            return
        now = self.clock()
        previous = await self.get(group)
        blocked_until = previous.blocked_until if previous.blocked_until > now else 0.0
        if remaining <= 0:
            # The window slides, so a full window from now is the first moment a slot is certainly free again.
            blocked_until = max(blocked_until, now + (window or 60.0))
        budget = Budget(group, limit, remaining, window, now, blocked_until)
        await self.store.set_json(self._name(group), asdict(budget), ttl_s=self._ttl(budget, now))

    async def penalise(self, group: str, retry_after: float) -> None:
        """A 429 arrived: nobody sends to `group` until Retry-After has passed."""
        now = self.clock()
        previous = await self.get(group)
        budget = Budget(
            group=group,
            limit=previous.limit,
            remaining=0,
            window_s=previous.window_s,
            observed_at=now,
            blocked_until=max(previous.blocked_until, now + retry_after),
        )
        logger.warning("ringcentral: rate limited", extra={"group": group, "retry_after_s": retry_after})
        await self.store.set_json(self._name(group), asdict(budget), ttl_s=self._ttl(budget, now))

    @staticmethod
    def _ttl(budget: Budget, now: float) -> float:
        # Kept for a day at least so the status page can show the last numbers, and past any penalty.
        return max(86_400.0, budget.blocked_until - now + 60)


def describe(budget: Budget, now: float) -> dict[str, Any]:
    """The budget as the status page shows it."""
    return {
        "limit": budget.limit,
        "remaining": budget.remaining,
        "window_s": budget.window_s,
        "blocked_for_s": round(budget.wait_s(now), 3),
        "observed_s_ago": None if budget.observed_at is None else round(max(now - budget.observed_at, 0.0), 1),
    }
