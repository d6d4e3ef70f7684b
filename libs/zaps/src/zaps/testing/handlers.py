"""Call an automation's handler on a sample event in a unit test: no worker, no queue, no database.

    result = await try_handler(big_orders, event={"id": "A-1", "total": 250}, settings=Settings(...))
    assert result.status == "succeeded"
    assert result.sent["webhook"][0]["payload"]["order_id"] == "A-1"

What is the same as in the engine: the handler gets a real `Run`, and every step goes through the real `Run.step`
(its ledger rules: a step done is answered from the ledger, a failed one is `not_done`, an unsure one follows its
`on_unsure` rule; its records: name, status, input, output, error, duration). `run.filter` and errors end the try as
the executor would end the run.

What differs, exactly:
- the ledger and the step records are in memory (`engine.step_store.MemorySteps`), not in PostgreSQL, so nothing
  outlives the test; pass `store=` a previous result's `store` to try the same event again, as a retry or a replay
  would (done steps are then reused, not sent);
- the built-in actions are the recording fakes of `zaps.actions.fakes`: `result.sent` lists what each was given;
- a `run.step("name", fn)` calls `fn`, your own code, as the engine would: give `answers={"name": value}` to answer it
  (or any step, built-in ones too) without calling it, and an exception as the value to make that step fail;
- there is one try: a retryable failure is `failed` with `retryable` True, where the engine would try again later;
- `run.runtime.database`, `.redis`, `.queue`, `.wakeup` and `.service` are absent, and say so when used: a handler
  that reads them needs the database fixtures and a running app (`zaps.testing.apps.running`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar, cast

from zaps.actions.base import Actions
from zaps.actions.fakes import Recorder, fake_actions
from zaps.context import Runtime
from zaps.engine.run import Event, Filtered, NeedsReview, Run
from zaps.engine.step_store import MemorySteps
from zaps.retry import is_retryable
from zaps.settings import SettingsT

T = TypeVar("T")
Outcome = Literal["succeeded", "filtered", "failed", "needs_review"]


class Absent:
    """A runtime part `try_handler` does not have; using it says what to do instead of failing obscurely."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"try_handler has no {self._what} (run.runtime.{self._what}.{name}): test a handler that uses it with "
            "the database fixtures and a running app (zaps.testing.apps.running)"
        )


@dataclass
class Tried(Generic[SettingsT]):
    """How the try ended, each step as `zaps_step` would hold it, and what each fake action was given."""

    status: Outcome
    run: Run[SettingsT]
    store: MemorySteps
    actions: Actions
    filter_reason: str | None = None
    error: BaseException | None = None
    sent: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def steps(self) -> list[dict[str, Any]]:
        return [step for step in self.store.steps if step["attempt"] == self.run.attempt]

    @property
    def retryable(self) -> bool:
        """A failure the engine would try again (while the automation's retry schedule allows)."""
        return self.error is not None and is_retryable(self.error)

    def step(self, name: str) -> dict[str, Any]:
        """This try's (last) record of the step `name`."""
        found = [step for step in self.steps if step["name"] == name]
        if not found:
            raise KeyError(f"no step {name!r}; the steps were: {[step['name'] for step in self.steps]}")
        return found[-1]


class AnsweredRun(Run[SettingsT]):
    """A `Run` whose steps named in `answers` get that answer instead of calling their action. Only the action is
    replaced: the ledger and the records are `Run.step`'s own."""

    def __init__(self, *, answers: Mapping[str, Any], **run: Any) -> None:
        super().__init__(**run)
        self._answers = dict(answers)

    async def step(self, name: str, action: Callable[[str], Awaitable[T]], **options: Any) -> T:
        # `**options`: whatever Run.step takes besides (input, on_unsure, verify, ...), passed on untouched.
        if name in self._answers:
            answer = self._answers[name]

            async def answered(key: str) -> T:
                if isinstance(answer, BaseException):
                    raise answer
                return cast(T, answer)

            action = answered
        return await super().step(name, action, **options)


async def try_handler(
    handler: Callable[[Run[SettingsT]], Awaitable[None]],
    *,
    event: Any,
    settings: SettingsT,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    answers: Mapping[str, Any] | None = None,
    actions: Actions | None = None,
    store: MemorySteps | None = None,
    event_id: int = 1,
    attempt: int = 1,
    dry_run: bool = False,
) -> Tried[SettingsT]:
    """Run `handler` once on the payload `event` (see the module's docstring for what is and is not the engine's)."""
    actions = actions or fake_actions()
    store = store if store is not None else MemorySteps()
    runtime: Runtime[SettingsT] = Runtime(
        service=cast(Any, Absent("service")),
        settings=settings,
        database=cast(Any, Absent("database")),
        redis=cast(Any, Absent("redis")),
        queue=cast(Any, Absent("queue")),
        actions=actions,
        wakeup=cast(Any, Absent("wakeup")),
    )
    automation = f"{settings.service_name}.{handler.__name__.replace('_', '-')}"  # as Service.automation names it
    source = f"try:{automation}"
    run: Run[SettingsT] = AnsweredRun(
        answers=answers or {},
        run_id=event_id,
        automation=automation,
        attempt=attempt,
        event=Event(event_id, source, f"try:{event_id}", kind, event, headers, datetime.now(UTC)),
        runtime=runtime,
        dry_run=dry_run,
        store=store,
    )
    tried: Tried[SettingsT] = Tried("succeeded", run, store, actions)
    try:
        await handler(run)
    except Filtered as filtered:
        tried.status, tried.filter_reason = "filtered", filtered.reason
    except NeedsReview as held:
        tried.status, tried.error = "needs_review", held
    except Exception as error:
        tried.status, tried.error = "failed", error
    finally:
        await runtime.close_resources()
    tried.sent = {
        name: list(action.calls)
        for name in ("webhook", "slack", "email")
        if isinstance(action := getattr(actions, name), Recorder)
    }
    return tried
