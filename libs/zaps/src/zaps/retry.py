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
from datetime import UTC, datetime
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


@dataclass(frozen=True)
class Backoff:
    """Capped, jittered exponential backoff.

    After attempt n, wait a random time in [d/2, d] where d = min(cap, first * factor^(n-1)).
    """

    first_s: float = 2.0
    factor: float = 2.0
    cap_s: float = 600.0
    max_retry_after_s: float = 3600.0  # a server asking for a longer pause than this gets this

    def delay(self, attempt: int, retry_after: float | None = None, *, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_s, self.first_s * self.factor ** max(attempt - 1, 0))
        delay = (rng or random).uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            # The server knows best when it will take us back (Retry-After); only an absurd wish is trimmed.
            delay = max(delay, min(retry_after, self.max_retry_after_s))
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
