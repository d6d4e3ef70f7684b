"""Should a failed run try again, and when?

Only failures that another try can fix are retried: a connection never made, 5xx and 429 answers (raised by the
actions as `RetryableError`) and a database that did not answer. A timeout after the request was sent is an
`UnsureError`: the step's `on_unsure` rule (`zaps.engine.run`) decides before anything is sent again. Everything
else, a `PermanentError` or a bug in the handler, ends the run as `dead` at once, to be fixed and replayed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import psycopg


class RetryableError(Exception):
    """A failure worth another try. `retry_after` (seconds) is the server's own wish, e.g. from Retry-After."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """A failure no retry will fix (a 4xx answer, a bad address): the run goes `dead` at once."""


class UnsureError(RetryableError):
    """The request left but no answer came back (a read timeout, a connection lost after sending): the side effect
    may have happened. The step is *unsure*, and its `on_unsure` rule decides whether it is sent again."""


# The default schedule: the pause after each failed try (try 1 failed: wait 5 s before try 2; and so on). Fast at
# first, for blips (a deploy, a 502) that pass in seconds; then hours apart, for an outage. Zapier's autoreplay tries
# 5 more times, 5 min, 30 min, 1 h, 3 h and 6 h apart, the last ~10 h 35 min after the first error; here the last of
# 10 tries comes no earlier than 10 h 42 min 35 s after the first failure, so a target down for as long as Zapier
# would wait still gets the event. docs/automations.md ("Retries") has the table.
DEFAULT_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=3),
    timedelta(hours=4),
)
ZAPIER_AUTOREPLAY_WINDOW = timedelta(hours=10, minutes=35)  # 5 min + 30 min + 1 h + 3 h + 6 h


@dataclass(frozen=True)
class Retry:
    """When a run that failed with a retryable error is tried again, and how often in all.

    After try n fails, the next try waits `delays[n-1]` plus a random extra of up to `jitter` of it (so never earlier
    than the schedule says, and many runs failing together do not come back together). After the last delay's try,
    the run is dead: `Retry(delays=())` tries once. A server's own wish (`Retry-After`, up to `max_retry_after`)
    wins over a shorter delay.
    """

    delays: tuple[timedelta, ...] = DEFAULT_DELAYS
    jitter: float = 0.2
    max_retry_after: timedelta = timedelta(hours=1)  # a server asking for a longer pause than this gets this

    def __post_init__(self) -> None:
        object.__setattr__(self, "delays", tuple(self.delays))  # a list given by hand is kept as a tuple
        if any(delay < timedelta(0) for delay in self.delays):
            raise ValueError("retry delays cannot be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction of the delay, between 0 and 1")

    @classmethod
    def exponential(
        cls, *, attempts: int, first: timedelta, factor: float = 2.0, cap: timedelta = timedelta(hours=1)
    ) -> Retry:
        """`attempts` tries in all, the pauses between them growing by `factor` from `first` up to `cap`."""
        if attempts < 1:
            raise ValueError("a run is tried at least once")
        return cls(delays=tuple(min(cap, first * factor**n) for n in range(attempts - 1)))

    def up_to(self, attempts: int) -> Retry:
        """This schedule with `attempts` tries in all: cut short, or its last delay repeated."""
        if attempts < 1:
            raise ValueError("a run is tried at least once")
        last = self.delays[-1:] or (timedelta(0),)
        delays = (self.delays + last * attempts)[: attempts - 1]
        return Retry(delays=delays, jitter=self.jitter, max_retry_after=self.max_retry_after)

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The pause after try `attempt` fails, in seconds: (shortest, longest), Retry-After aside."""
        if not self.delays:
            return (0.0, 0.0)
        # A run queued under an older, longer schedule keeps going on this one's last pause.
        base = self.delays[min(max(attempt, 1), len(self.delays)) - 1].total_seconds()
        return (base, base * (1 + self.jitter))

    def total(self) -> tuple[timedelta, timedelta]:
        """From the first failure to the start of the last try: (shortest, longest), Retry-After aside."""
        spans = [self.bounds(n) for n in range(1, self.max_attempts)]
        return (timedelta(seconds=sum(low for low, _ in spans)), timedelta(seconds=sum(high for _, high in spans)))

    def delay(self, attempt: int, retry_after: float | None = None, *, rng: random.Random | None = None) -> float:
        low, high = self.bounds(attempt)
        delay = (rng or random).uniform(low, high)
        if retry_after is not None:
            # The server knows best when it will take us back (Retry-After); only an absurd wish is trimmed.
            delay = max(delay, min(retry_after, self.max_retry_after.total_seconds()))
        return delay


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, RetryableError | psycopg.OperationalError | TimeoutError | ConnectionError)


def retry_after_of(error: BaseException) -> float | None:
    return error.retry_after if isinstance(error, RetryableError) else None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, or None when there is no usable wish.

    The header holds either a number of seconds ("120", fractions accepted) or an HTTP date
    ("Wed, 21 Oct 2026 07:28:00 GMT"); a date is turned into the seconds left until it, counted from `now`
    (the current time unless a test gives one). A time in the past means "now": 0.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        # "inf" and "nan" parse as floats but are no wish a scheduler can keep.
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are always GMT; a date without a zone is read as GMT too
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
