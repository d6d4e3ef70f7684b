"""Did a step's request leave before its deadline passed?

A step runs under a deadline (`run.step(..., timeout=...)`). When the deadline passes, what the next try may do
depends on one fact: had the request gone out? If not (no connection was made, or nothing was written yet), the
step is *not done* and is simply retried; if it had, or nobody can say, it is *unsure* and follows its `on_unsure`
rule. `run.step` opens a `Sending` for each try; an action that can tell (the built-in HTTP and SMTP actions) says
`not_sent()` when it starts and `sent()` the moment its request begins to leave. An action that says nothing leaves
it unknown, and a timeout is then unsure: the safe reading.

An action may go on in a thread after its step gave up on it (SMTP runs in one). So the step's verdict and the
action's "sending now" are taken under one lock: once the step has called a try "not sent", `sent()` raises instead
of letting the request leave, and that verdict stays true.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Sending:
    """One try of a step: its deadline (seconds), and whether its request has begun to leave (None: unknown)."""

    timeout_s: float
    left: bool | None = None
    cut_off: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cut(self) -> bool | None:
        """The deadline passed: nothing may leave from now on. Returns whether the request had left (None:
        unknown)."""
        with self._lock:
            self.cut_off = True
            return self.left


class CutOff(Exception):
    """Raised by `sent()` in an action that went on after its step's deadline: it must not send."""


_current: ContextVar[Sending | None] = ContextVar("zaps_sending", default=None)


@contextmanager
def tracking(timeout_s: float) -> Iterator[Sending]:
    """Open a try with this deadline for the code run inside (the step's action reads it through `current`)."""
    sending = Sending(timeout_s=timeout_s)
    token = _current.set(sending)
    try:
        yield sending
    finally:
        _current.reset(token)


def current() -> Sending | None:
    """The try in progress, or None outside a step (an action called directly, as in a unit test)."""
    return _current.get()


def not_sent() -> None:
    """An action starts: nothing of its request has left yet."""
    sending = _current.get()
    if sending is not None:
        sending.left = False


def sent() -> None:
    """The action's request begins to leave: from here, a timeout makes the step unsure. Raises `CutOff` if the
    step's deadline has already passed (the step was told "not sent", so nothing may go now)."""
    sending = _current.get()
    if sending is None:
        return
    with sending._lock:
        if sending.cut_off and sending.left is False:
            raise CutOff("the step's timeout passed before this request was sent; it is not sent")
        sending.left = True
