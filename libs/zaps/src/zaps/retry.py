"""Should a failed run try again, and when?

Only failures that another try can fix are retried: a connection never made, 5xx and 429 answers (raised by the
actions as `RetryableError`) and a database that did not answer. A timeout after the request was sent is an
`UnsureError`: the step's `on_unsure` rule (`zaps.engine.run`) decides before anything is sent again. Everything
else, a `PermanentError` or a bug in the handler, ends the run as `dead` at once, to be fixed and replayed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from APIs; it is read as 'no wish')."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
