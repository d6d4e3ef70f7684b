"""What an automation's handler receives: the event, and steps that go through the idempotency ledger.

async def handler(run: Run) -> None:
    if run.event.payload["total"] < 100:
        run.filter("order under 100")               # recorded as `filtered`, with the reason
    await run.webhook("notify-crm", url=..., payload={...})   # once per event, on the terms of its `on_unsure`

What "once" means. Before a step is sent, a `started` row is committed to the ledger; right after the answer, the
result. A step with a result is never sent again (a retry or a replay reuses its output). A try that fails with an
answer of 429 or 5xx, or without a connection made, is *not done*: the next try sends it. A try that timed out
after the request was sent, or whose process stopped between sending and recording (a `started` row with no
result), is *unsure*, and the step's `on_unsure` rule decides:

- `resend`: send again with the same idempotency key (for targets that deduplicate on it, or where a double is
  harmless);
- `check`: call the step's `verify(key)`, which asks the target whether it happened; send again only if it did not;
- `hold`: send nothing; the run stops as `needs_review`, is alerted, and waits for a person to choose "send again"
  or "mark as done" (console, `zaps runs send-again/mark-done`, admin API).

The transaction that marks a step started first checks the claim fence: an execution that no longer owns its run
(taken for dead while alive; the run queued again, claimed anew or replayed) raises `StaleExecution` and sends
nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, NoReturn, TypeVar

from pydantic import SecretStr

from zaps import sending
from zaps.actions import request
from zaps.actions.request import Fields, Headers, HttpAnswer
from zaps.context import Runtime
from zaps.engine import repository
from zaps.engine.statuses import StepStatus
from zaps.engine.step_store import PostgresSteps, StepStore
from zaps.engine.trials import would_send
from zaps.retry import RetryableError, UnsureError
from zaps.settings import SettingsT

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_RECORDED_BYTES = 16 * 1024  # a step's input or output beyond this is stored truncated

OnUnsure = Literal["resend", "check", "hold"]
# What `verify(key)` returns: the step's output if the target has it done, None if it has not.
Verify = Callable[[str], Awaitable[Any]]

# The built-in actions' rules (docs/automations.md says why each).
WEBHOOK_ON_UNSURE: OnUnsure = "resend"  # it carries a signed Idempotency-Key that receivers deduplicate on
SLACK_ON_UNSURE: OnUnsure = "resend"  # a doubled chat notice is harmless; a run held for one is not
EMAIL_ON_UNSURE: OnUnsure = "hold"  # a doubled mail reaches a person; Message-ID deduplication is not dependable
STEP_ON_UNSURE: OnUnsure = "resend"  # `run.step`: the function gets the key to pass on; choose another if it cannot

# How long one try of a `run.step` function may take unless the step says otherwise (the built-in actions use the
# ACTION_TIMEOUT_S setting, 10 s by default). A try cut off by it is unsure, unless the function said that nothing
# had left yet (`zaps.sending`); docs/automations.md ("Timeouts").
STEP_TIMEOUT = timedelta(seconds=60)


class NeedsReview(Exception):
    """Raised by a step held as unsure: the run ends as `needs_review` and waits for a person."""

    def __init__(self, step: str, why: str) -> None:
        super().__init__(f"step {step!r} is unsure ({why}); held for review: send again, or mark as done")
        self.step = step


class StaleExecution(Exception):
    """Raised by a step of an execution that no longer owns its run (its worker was taken for dead, and the run was
    queued again or claimed by a newer execution): nothing is sent and nothing recorded; the executor ends the job
    quietly and the newer execution carries the run. A handler must let it through, as it does `NeedsReview`."""

    def __init__(self, run_id: int, step: str) -> None:
        super().__init__(f"run {run_id} was taken over by a newer execution before step {step!r}; not sent")
        self.step = step


class Filtered(Exception):
    """Raised by `run.filter(reason)`: the run ends as `filtered`, with the reason recorded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Event:
    id: int
    source: str
    key: str
    kind: str | None
    payload: Any
    headers: dict[str, str] | None
    received_at: datetime


def capped(value: Any, limit: int = MAX_RECORDED_BYTES) -> Any:
    """Keep run records bounded: anything larger than `limit` once serialised is replaced by its head."""
    text = json.dumps(value, default=str)
    if len(text) <= limit:
        return json.loads(text)
    return {"truncated": True, "bytes": len(text), "head": text[:limit]}


class Run(Generic[SettingsT]):
    """One run of an automation. Write the handler as `async def handler(run: Run[Settings]) -> None`, with the
    service's own settings class, so mypy checks each `run.settings.<field>` it reads."""

    def __init__(
        self,
        *,
        run_id: int,
        automation: str,
        attempt: int,
        event: Event,
        runtime: Runtime[SettingsT],
        dry_run: bool = False,
        store: StepStore | None = None,
        fence: tuple[int, int] | None = None,
    ) -> None:
        self.id = run_id
        self.automation = automation
        self.attempt = attempt
        self.event = event
        self.settings: SettingsT = runtime.settings
        self.actions = runtime.actions
        self.runtime = runtime  # the service's own resources (an API client, say) and the database
        self.log = logging.getLogger(f"zaps.run.{automation}")
        # A dry run (`zaps run --dry-run`) records what each step would send, sends nothing, writes no ledger entry.
        self.dry_run = dry_run
        self._database = runtime.database
        self._store: StepStore = store or PostgresSteps(runtime.database)
        # The claim's (attempts, attempt_id): checked before each send (see `_fenced`). None runs unfenced (a trial in
        # memory, `zaps.testing.try_handler`, has no claim).
        self._fence = fence

    def filter(self, reason: str) -> NoReturn:
        """Stop here: the run is `filtered`, not failed, and the reason shows in its history."""
        raise Filtered(reason)

    def idempotency_key(self, step: str) -> str:
        return f"{self.automation}/{self.event.id}/{step}"

    async def _would_send(self, name: str, input: Any, started: float) -> Any:
        """A dry run's step: the output of a shadow-mode step (`trials.would_send`), recorded as `would_send`, and no
        ledger entry, so a real send later is not taken for done."""
        would = {**would_send(name, capped(input)), "dry_run": True}
        await self._record(name, StepStatus.WOULD_SEND, input, would, None, started)
        return would

    async def step(
        self,
        name: str,
        action: Callable[[str], Awaitable[T]],
        *,
        input: Any = None,
        on_unsure: OnUnsure = STEP_ON_UNSURE,
        verify: Verify | None = None,
        timeout: timedelta = STEP_TIMEOUT,
    ) -> T:
        """Do `action(idempotency_key)` once for this event: if it already succeeded (an earlier attempt or a
        replay), return what it returned then instead of doing it again. If an earlier try may or may not have
        happened, `on_unsure` decides (see the module's docstring); `check` needs `verify`. A try that takes longer
        than `timeout` is cut off: unsure, or not done if its request had not left yet."""
        if on_unsure not in ("resend", "check", "hold"):
            raise ValueError(f"on_unsure must be resend, check or hold, not {on_unsure!r}")
        if on_unsure == "check" and verify is None:
            raise ValueError(f"step {name!r}: on_unsure='check' needs a verify function")
        key = self.idempotency_key(name)
        started = time.perf_counter()
        if self.dry_run:
            would: T = await self._would_send(name, input, started)  # in place of the action's answer, as fakes do
            return would
        # Its own committed transaction, before anything is sent: that is what lets a later try tell "never
        # started" from "may have happened".
        async with self._store.transaction() as conn:
            await self._fenced(conn, name)
            entry = await self._store.ledger_begin(
                conn, automation=self.automation, event_id=self.event.id, step=name, key=key
            )
        if entry.state == "done":
            await self._record(name, StepStatus.REUSED, input, entry.output, None, started)
            reused: T = entry.output
            return reused
        if entry.state == "unsure":
            found = await self._settle_unsure(name, key, input, on_unsure, verify, started)
            if found is not None:
                verified: T = found[0]
                return verified
        try:
            result = await self._try(name, action, key, timeout.total_seconds())
        except UnsureError as error:
            await self._after_unsure_try(name, key, input, on_unsure, error, started)
            raise
        except Exception as error:
            async with self._store.transaction() as conn:
                await self._store.ledger_not_done(conn, key=key)
                await self._record(
                    name, StepStatus.FAILED, input, None, f"{type(error).__name__}: {error}", started, conn=conn
                )
            raise
        recorded = capped(result)
        async with self._store.transaction() as conn:
            await self._store.ledger_complete(conn, key=key, output=recorded)
            await self._record(name, StepStatus.SUCCEEDED, input, recorded, None, started, conn=conn)
        return result

    async def _try(self, name: str, action: Callable[[str], Awaitable[T]], key: str, limit_s: float) -> T:
        """One try of the action, cut off after `limit_s`: a try whose request had not left is retryable (not
        done); one whose request had left, or that cannot say, is unsure."""
        deadline = asyncio.timeout(limit_s)
        with sending.tracking(limit_s) as attempt:
            try:
                async with deadline:
                    return await action(key)
            except TimeoutError:
                if not deadline.expired():
                    raise  # the action's own timeout, classified by the action
                left = attempt.cut()
                if left is False:
                    raise RetryableError(
                        f"step {name!r} timed out after {limit_s:g} s before its request was sent"
                    ) from None
                when = "after its request was sent" if left else "and cannot tell whether it was sent"
                raise UnsureError(f"step {name!r} timed out after {limit_s:g} s {when}") from None

    def _action_timeout(self, timeout: timedelta | None) -> timedelta:
        """A built-in action's step timeout: the step's own, else the ACTION_TIMEOUT_S setting."""
        return timeout or timedelta(seconds=self.settings.action_timeout_s)

    async def _settle_unsure(
        self, name: str, key: str, input: Any, rule: OnUnsure, verify: Verify | None, started: float
    ) -> tuple[Any] | None:
        """An earlier try of this step may have happened. Returns (output,) if the target says it did; None when
        the step is to be sent again (marked started first); raises NeedsReview to hold it."""
        why = "an earlier try was sent and not recorded"
        if rule == "hold":
            async with self._store.transaction() as conn:
                await self._store.ledger_unsure(conn, key=key)
                await self._record(name, StepStatus.UNSURE, input, None, f"{why}; held for review", started, conn=conn)
            raise NeedsReview(name, why)
        if rule == "check":
            assert verify is not None
            output = await verify(key)
            if output is not None:
                recorded = capped(output)
                async with self._store.transaction() as conn:
                    await self._store.ledger_complete(conn, key=key, output=recorded, resolution="checked: done")
                    await self._record(name, StepStatus.VERIFIED, input, recorded, None, started, conn=conn)
                self.log.info("unsure step found done at the target", extra={"step": name})
                return (output,)
        async with self._store.transaction() as conn:
            await self._fenced(conn, name)
            await self._store.ledger_resend(conn, key=key)
            note = "checked: not done; sending" if rule == "check" else "sending again with the same key"
            await self._record(name, StepStatus.UNSURE, input, None, f"{why}; {note}", started, conn=conn)
        self.log.warning("unsure step sent again", extra={"step": name, "rule": rule, "idempotency_key": key})
        return None

    async def _fenced(self, conn: repository.Conn, step: str) -> None:
        """Stop here, before anything is marked started or sent, if this execution no longer owns the run.

        In the same transaction as the `started` mark: a newer claim committed before it is seen, and one committed
        after it finds the step `started` (unsure) and applies its rule."""
        if self._fence is not None and not await repository.claim_is_current(conn, self.id, self._fence):
            raise StaleExecution(self.id, step)

    async def _after_unsure_try(
        self, name: str, key: str, input: Any, rule: OnUnsure, error: UnsureError, started: float
    ) -> None:
        """This try timed out (or lost its connection) after sending: hold the run at once if the rule says so;
        otherwise the run retries as usual, and the next try resends or checks first."""
        message = f"{type(error).__name__}: {error}"
        async with self._store.transaction() as conn:
            await self._store.ledger_unsure(conn, key=key)
            await self._record(name, StepStatus.UNSURE, input, None, message, started, conn=conn)
        if rule == "hold":
            raise NeedsReview(name, str(error)) from None

    async def step_started_at(self, name: str) -> datetime:
        """When the latest try of this step began (for a `verify` function: what happened after it can be ours)."""
        async with self._store.connection() as conn:
            started = await self._store.ledger_started_at(conn, key=self.idempotency_key(name))
        return started or datetime.now(UTC)

    async def webhook(
        self,
        step: str,
        *,
        url: str,
        payload: Any,
        secret: str | None = None,
        on_unsure: OnUnsure = WEBHOOK_ON_UNSURE,
        verify: Verify | None = None,
        timeout: timedelta | None = None,
    ) -> dict[str, Any]:
        """POST `payload` as JSON to `url`, signed, with the step's `Idempotency-Key`, once per event."""

        async def send(key: str) -> dict[str, Any]:
            return await self.actions.webhook.send(url=url, payload=payload, idempotency_key=key, secret=secret)

        return await self.step(
            step,
            send,
            input={"url": url, "payload": payload},
            on_unsure=on_unsure,
            verify=verify,
            timeout=self._action_timeout(timeout),
        )

    async def slack(
        self,
        step: str,
        *,
        text: str,
        webhook_url: str | None = None,
        on_unsure: OnUnsure = SLACK_ON_UNSURE,
        verify: Verify | None = None,
        timeout: timedelta | None = None,
    ) -> dict[str, Any]:
        """Post `text` to Slack (SLACK_WEBHOOK_URL unless `webhook_url` is given), once per event."""

        async def send(key: str) -> dict[str, Any]:
            return await self.actions.slack.send(text=text, idempotency_key=key, webhook_url=webhook_url)

        return await self.step(
            step, send, input={"text": text}, on_unsure=on_unsure, verify=verify, timeout=self._action_timeout(timeout)
        )

    async def email(
        self,
        step: str,
        *,
        to: list[str],
        subject: str,
        body: str,
        on_unsure: OnUnsure = EMAIL_ON_UNSURE,
        verify: Verify | None = None,
        timeout: timedelta | None = None,
    ) -> dict[str, Any]:
        """Send an email through the configured SMTP server, once per event."""

        async def send(key: str) -> dict[str, Any]:
            return await self.actions.email.send(to=to, subject=subject, body=body, idempotency_key=key)

        return await self.step(
            step,
            send,
            input={"to": to, "subject": subject},
            on_unsure=on_unsure,
            verify=verify,
            timeout=self._action_timeout(timeout),
        )

    async def http(
        self,
        step: str,
        *,
        method: str = "GET",
        url: str | SecretStr,
        headers: Headers | None = None,
        query: Fields | None = None,
        json: Any = None,
        form: Fields | None = None,
        content: bytes | str | None = None,
        auth: tuple[str, str] | None = None,
        bearer: str | None = None,
        timeout: float | None = None,
        on_unsure: OnUnsure | None = None,
        verify: Verify | None = None,
        idempotency_key_header: str | None = None,
    ) -> HttpAnswer:
        """Any HTTP call, once per event: returns status, headers and the body (parsed JSON, or text), bounded.

        One body at most (`json`, `form` or raw `content`); `auth=(user, password)` for basic auth or `bearer=`;
        `timeout` in seconds (ACTION_TIMEOUT_S by default). A URL given as a `SecretStr` (a signed URL) is never
        shown beyond its host. Unsure (a timeout after sending): `hold` unless `idempotency_key_header` names a
        header the target deduplicates on (`"Idempotency-Key"`), which then carries the step's key and makes the
        default `resend`. The run record keeps the call without its credentials (`zaps.actions.request`)."""
        secret_url = isinstance(url, SecretStr)
        call = request.HttpCall(
            method=method,
            url=url.get_secret_value() if isinstance(url, SecretStr) else url,
            headers=headers or {},
            query=query,
            json_body=json,
            form=form,
            content=content,
            auth=auth,
            bearer=bearer,
            timeout_s=timeout,
            idempotency_key_header=idempotency_key_header,
            url_is_secret=secret_url,
        )
        client = self.runtime.resource(
            "zaps.http", lambda: request.client(self.settings.action_timeout_s), lambda made: made.aclose()
        )

        async def send(key: str) -> HttpAnswer:
            return await call.send(client, idempotency_key=key, default_timeout_s=self.settings.action_timeout_s)

        rule = on_unsure or request.default_on_unsure(idempotency_key_header)
        limit = timedelta(seconds=timeout or self.settings.action_timeout_s)
        return await self.step(step, send, input=call.recorded(), on_unsure=rule, verify=verify, timeout=limit)

    async def _record(
        self,
        name: str,
        status: StepStatus,
        input: Any,
        output: Any,
        error: str | None,
        started: float,
        conn: Any = None,
    ) -> None:
        values = {
            "run_id": self.id,
            "attempt": self.attempt,
            "name": name,
            "status": status,
            "input": capped(input),
            "output": capped(output),
            "error": error[:4000] if error else None,
            "duration_ms": (time.perf_counter() - started) * 1000,
        }
        if conn is not None:
            await self._store.record_step(conn, **values)
            return
        async with self._store.connection() as own:
            await self._store.record_step(own, **values)
