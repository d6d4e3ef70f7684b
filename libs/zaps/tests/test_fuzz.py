"""Property-based fuzzing of every installed service's OpenAPI with schemathesis: no generated input, valid or not,
makes a service answer 5xx, and the answers match what the OpenAPI documents.

Each service runs in-process inside `running(app)` (its lifespan migrates a fresh database and opens the pool and
Redis) and serves its own /openapi.json, which is what gets fuzzed, one operation per test. Hypothesis drives the
cases from a worker thread; each request schemathesis prepares is carried to the app on the test's event loop by a
`requests` adapter, so schemathesis' own checks (not_a_server_error, status code, content type, headers and body
conformance, negative data rejection, positive data acceptance) run on the real answers. Admin routes are fuzzed
without the bearer token and with it; webhook routes unsigned and signed (so generated bodies reach JSON parsing
and the database). Bounded and repeatable: a fixed number of examples per operation and mode, derandomized.

Where the fuzzer shows an answer the OpenAPI does not promise for a legitimate reason (a documentation gap, not a
crash), the gap is listed in KNOWN_GAPS: only the checks it trips are waived, for only its status codes, every
other check still runs, and a case that showed a gap is reported as xfail with the first example as a curl command.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import requests
import requests.adapters
import schemathesis
import urllib3
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    positive_data_acceptance,
    status_code_conformance,
)
from zaps import signing
from zaps.engine.openapi_webhooks import PATH_TOKEN_SUFFIX
from zaps.engine.triggers import Webhook, setting_value
from zaps.settings import Environment
from zaps.testing.apps import running

ENGINE_TESTS = Path(__file__).parent / "engine"
if str(ENGINE_TESTS) not in sys.path:
    sys.path.insert(0, str(ENGINE_TESTS))

ADMIN_TOKEN = "fuzz-admin-token-5e1f0c2b9a"
EXAMPLES_PER_MODE = 25  # per operation, per generation mode (valid input, then invalid input)
REQUEST_TIMEOUT_S = 30
HOST = "http://testserver"
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE


# --- The services ---------------------------------------------------------------------------------------------------


def _test_service() -> tuple[Any, type]:
    from test_service.service import service
    from test_service.settings import Settings

    return service, Settings


def _engine_service() -> tuple[Any, type]:
    from engine_service import EngineSettings, service

    return service, EngineSettings


def _inbound_service() -> tuple[Any, type]:
    from inbound_service import InboundSettings, service

    return service, InboundSettings


def _ringcentral_service() -> tuple[Any, type]:
    from ringcentral_service.service import service

    return service, service.settings_class


SERVICES: dict[str, Callable[[], tuple[Any, type]]] = {
    "test-service": _test_service,
    "engine-tests": _engine_service,
    "inbound-tests": _inbound_service,
    "ringcentral-service": _ringcentral_service,
}


def _operations(name: str) -> tuple[list[tuple[str, str]], str | None]:
    """(method, path) of every operation the service documents, or why the service cannot be fuzzed."""
    try:
        service, settings_class = SERVICES[name]()
        settings = settings_class(
            environment=Environment.test, log_level="WARNING", data_dir="/nonexistent", _env_file=None
        )
        spec = service.create_app(settings).openapi()
    except Exception as error:  # a service being built may not import yet: skip it, and say why
        return [], f"{name} cannot be loaded ({type(error).__name__}: {error})"
    operations = [
        (method.upper(), path)
        for path, methods in spec["paths"].items()
        for method in methods
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    ]
    return operations, None


def _auth_modes(path: str) -> list[str]:
    if path.startswith("/admin/"):
        return ["no-token", "admin-token"]
    if path.endswith(PATH_TOKEN_SUFFIX):
        # The token is part of the path, which schemathesis generates: only the 401 is reachable here (the same
        # automation's header route below carries generated bodies through to the database).
        return ["no-token"]
    if path.startswith("/hooks/"):
        # Unsigned input stops at the 401; signed input reaches body parsing and the database.
        return ["no-token", "signed"]
    return ["no-token"]


def webhook_credentials(service: Any, settings: Any, path: str) -> Callable[[bytes], dict[str, str]]:
    """Headers that authenticate a body on this webhook route: its HMAC signature, or its shared token."""
    for automation in service.automations.values():
        trigger = automation.trigger
        if isinstance(trigger, Webhook) and path == f"/hooks/{automation.local_name}":
            scheme = trigger.scheme
            if scheme is not None:
                scheme_secret = setting_value(settings, scheme.secret_setting) or ""
                return lambda body: scheme.sign(scheme_secret, body)
            if trigger.secret_setting:
                secret = setting_value(settings, trigger.secret_setting)
                return lambda body: signing.sign(secret, body)
            token = setting_value(settings, trigger.token_setting)
            return lambda body: {"X-Zaps-Token": token}
    raise LookupError(f"no webhook automation serves {path}")


def webhook_secrets(service: Any, settings_class: type) -> dict[str, str]:
    """A value for each webhook secret or token the service leaves unset by default: unset, its webhook answers
    503 to everything (by design: "not configured"), which would hide the rest of the route from the fuzzer."""
    values = {}
    for automation in service.automations.values():
        if isinstance(automation.trigger, Webhook):
            for name in automation.trigger.setting_names().values():
                if settings_class.model_fields[name].default is None:
                    values[name] = f"fuzz-{name}-5e1f0c2b9a"
    return values


# --- Known documentation gaps (reported to the library's owner; not crashes) -----------------------------------------


@dataclass(frozen=True)
class Gap:
    """Answers with these statuses (to this kind of generated input, or any) are not what the OpenAPI promises."""

    statuses: frozenset[int]
    reason: str
    waives: tuple[Any, ...] = (status_code_conformance, positive_data_acceptance)
    mode: GenerationMode | None = None


_ADMIN_SINCE = Gap(
    frozenset({422}),
    "admin API: `since` is any string up to 40 characters in the OpenAPI (a duration like 24h or an ISO time is "
    "more than a pattern can say exactly), so a string that is neither is schema-valid and still refused with 422",
    mode=POSITIVE,
)
KNOWN_GAPS: dict[tuple[str, str, str], list[Gap]] = {
    ("GET", "/admin/runs", "admin-token"): [_ADMIN_SINCE],
    ("POST", "/admin/runs/replay", "admin-token"): [_ADMIN_SINCE],
}
SIGNED_WEBHOOK_GAPS = [
    Gap(
        frozenset({422}),
        "webhooks: a JSON value holding \\u0000 (PostgreSQL jsonb cannot store it) is refused with 422, though "
        "JSON allows it",
        mode=POSITIVE,
    ),
]


def known_gaps(method: str, path: str, auth: str) -> list[Gap]:
    if auth == "signed":
        return SIGNED_WEBHOOK_GAPS
    return KNOWN_GAPS.get((method, path, auth), [])


def _params() -> list[Any]:
    params = []
    for name in SERVICES:
        operations, unavailable = _operations(name)
        if unavailable:
            params.append(pytest.param(name, "", "", "", id=name, marks=pytest.mark.skip(reason=unavailable)))
            continue
        for method, path in operations:
            for auth in _auth_modes(path):
                params.append(pytest.param(name, method, path, auth, id=f"{name}:{method} {path}:{auth}"))
    return params


# --- Carrying schemathesis' requests to the in-process app ----------------------------------------------------------


class InProcessAdapter(requests.adapters.HTTPAdapter):
    """A `requests` transport that hands each prepared request to the app through an httpx ASGI client living on the
    test's event loop (where `running(app)` opened the pool), and gives the answer back as a `requests` response."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        loop: asyncio.AbstractEventLoop,
        credentials: Callable[[bytes], dict[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self.client, self.loop, self.credentials = client, loop, credentials

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        body = request.body
        if body is None:
            content = b""
        elif isinstance(body, str):
            content = body.encode("utf-8")
        elif isinstance(body, bytes | bytearray):
            content = bytes(body)
        else:  # a stream or a generator of chunks
            content = b"".join(chunk.encode() if isinstance(chunk, str) else chunk for chunk in body)
        # Headers go over the wire as latin-1 octets; fuzzed values may hold any of them.
        headers = [
            (
                name.encode("latin-1") if isinstance(name, str) else name,
                value.encode("latin-1") if isinstance(value, str) else value,
            )
            for name, value in request.headers.items()
        ]
        if self.credentials is not None:  # signed over the exact bytes that go out
            headers += [(name.encode(), value.encode()) for name, value in self.credentials(content).items()]
        future = asyncio.run_coroutine_threadsafe(
            self.client.request(str(request.method), str(request.url), headers=headers, content=content), self.loop
        )
        try:
            answer = future.result(timeout=REQUEST_TIMEOUT_S)
        except FutureTimeout:
            future.cancel()
            raise requests.exceptions.ReadTimeout(f"no answer in {REQUEST_TIMEOUT_S} s", request=request) from None
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(answer.content),
            headers=[(k, v) for k, v in answer.headers.multi_items() if k.lower() != "content-encoding"],
            status=answer.status_code,
            reason=answer.reason_phrase,
            version=11,
            preload_content=False,
            decode_content=False,
        )
        return self.build_response(request, raw)


def in_process_session(
    client: httpx.AsyncClient,
    loop: asyncio.AbstractEventLoop,
    credentials: Callable[[bytes], dict[str, str]] | None = None,
) -> requests.Session:
    session = requests.Session()
    adapter = InProcessAdapter(client, loop, credentials)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --- The fuzzing ----------------------------------------------------------------------------------------------------


@dataclass
class Findings:
    cases: int = 0  # generated cases run (shrinking included), each one request
    answered: dict[int, int] = field(default_factory=dict)  # status -> how many answers
    gaps: dict[int, str] = field(default_factory=dict)  # index in the gap list -> first example, as curl

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.answered.items() if status >= 500)


# Per service: [cases, answers 5xx] over the operations fuzzed so far; printed after each test and at the module's end.
TOTALS: dict[str, list[int]] = {}


def report(service_name: str, operation: str, findings: Findings) -> None:
    """One line for this operation, with its service's running totals: shown by `pytest -s`, and kept in the test's
    captured output (and so in a failure's report)."""
    total = TOTALS.setdefault(service_name, [0, 0])
    total[0] += findings.cases
    total[1] += findings.server_errors
    print(
        f"fuzz {service_name} {operation}: {findings.cases} cases, {findings.server_errors} answers 5xx "
        f"(service so far: {total[0]} cases, {total[1]} answers 5xx)"
    )


@pytest.fixture(scope="module", autouse=True)
def fuzz_totals() -> Any:
    yield
    for name, (cases, errors) in sorted(TOTALS.items()):
        print(f"fuzz totals {name}: {cases} cases generated, {errors} answers 5xx")


def fuzz(
    operation: Any,
    findings: Findings,
    *,
    session: requests.Session,
    base_url: str,
    headers: dict[str, str],
    gaps: list[Gap],
    takes_input: bool,
) -> None:
    """Drive one operation with valid, then invalid, generated input, counting into `findings`; raise the first
    failing check (shrunk)."""
    # An operation with no parameters and no body has no invalid input to make.
    modes = [POSITIVE, NEGATIVE] if takes_input else [POSITIVE]

    for mode in modes:

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_MODE,
            deadline=None,
            derandomize=True,  # the same cases on every run: CI is repeatable
            database=None,  # and nothing remembered between runs
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
            report_multiple_bugs=False,
        )
        def check_one(case: Any) -> None:
            findings.cases += 1
            response = case.call(base_url=base_url, session=session, headers=headers)
            status = response.status_code
            findings.answered[status] = findings.answered.get(status, 0) + 1
            waived: list[Any] = []
            for index, gap in enumerate(gaps):
                # check_one runs within this iteration, so the loop's `mode` is the one it was built for.
                if status in gap.statuses and gap.mode in (None, mode):  # noqa: B023
                    waived.extend(gap.waives)
                    findings.gaps.setdefault(index, case.as_curl_command(headers=headers))
            case.validate_response(
                response,
                excluded_checks=waived,
                headers=headers,
                transport_kwargs={"base_url": base_url, "session": session, "headers": headers},
            )

        try:
            check_one()
        except hypothesis.errors.Unsatisfiable:
            # No invalid value exists for what this operation takes (e.g. a free-form string in the path).
            if mode is not NEGATIVE:
                raise


@pytest.mark.parametrize(("service_name", "method", "path", "auth"), _params())
async def test_fuzz_operation(make_settings, service_name: str, method: str, path: str, auth: str) -> None:
    service, settings_class = SERVICES[service_name]()
    settings = make_settings(
        settings_class, run_worker=False, admin_token=ADMIN_TOKEN, **webhook_secrets(service, settings_class)
    )
    app = service.create_app(settings)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if auth == "admin-token" else {}
    gaps = known_gaps(method, path, auth)

    async with running(app) as client:
        served = await client.get(f"{settings.path_prefix}/openapi.json")
        assert served.status_code == 200
        spec = served.json()
        schema = schemathesis.openapi.from_dict(spec, config=schemathesis.Config())
        operation = schema[path][method]
        definition = spec["paths"][path][method.lower()]
        credentials = webhook_credentials(service, settings, path) if auth == "signed" else None
        session = in_process_session(client, asyncio.get_running_loop(), credentials)
        findings = Findings()
        try:
            await asyncio.to_thread(
                fuzz,
                operation,
                findings,
                session=session,
                base_url=HOST + settings.path_prefix,
                headers=headers,
                gaps=gaps,
                takes_input=bool(definition.get("parameters") or definition.get("requestBody")),
            )
        finally:
            session.close()
            report(service_name, f"{method} {path} [{auth}]", findings)

    assert not any(status >= 500 for status in findings.answered), findings.answered
    # A gap the bounded sample did not reach is no failure: which inputs are drawn depends on the spec and on
    # hypothesis' seed (derived from this file's source), so a waiver is allowed, never required, to be used.
    if findings.gaps:
        seen = "\n".join(f"- {gaps[index].reason}\n  e.g. {curl}" for index, curl in sorted(findings.gaps.items()))
        pytest.xfail(f"OpenAPI documentation gaps (no 5xx):\n{seen}")
