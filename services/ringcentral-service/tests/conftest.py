"""Fixtures for ringcentral-service: the simulator as a real server on 127.0.0.1, clients that talk to it over HTTP
and share a Redis (real when one answers, fakeredis otherwise), and the contract check against the official spec.

Every test that uses `sim` has each request it caused, and each answer, checked against the spec when the test
ends (see `Contract`); a test that sends off-contract requests on purpose says so with `sim.off_contract()`.
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import fakeredis
import httpx
import pytest
import redis.asyncio as redis
import yaml
from pydantic import SecretStr
from ringcentral_service.client import RingCentralClient
from ringcentral_service.simulator import SimulatorConfig, serve_in_thread
from ringcentral_service.simulator.answers import Exchange

REPO = Path(__file__).resolve().parents[3]
SPEC_DIR = REPO.parent / "shared" / "ringcentral"
SUBSET = SPEC_DIR / "ringcentral-poller-subset.openapi.yaml"
FULL = SPEC_DIR / "ringcentral-openapi.yml"
PLATFORM = "https://platform.ringcentral.com"
MEDIA = "https://media.ringcentral.com"
MEDIA_OPERATIONS = {"readMessageContent", "readCallRecordingContent"}
# Where the spec and RingCentral disagree, as far as the research could tell (shared/research/ringcentral.md §2.6):
# transcriptions are text, but the spec lists only audio, image, video and PDF for attachment content.
KNOWN_GAPS = {("readMessageContent", "text/plain")}

CONFIG = SimulatorConfig()


class _Yaml12Loader(yaml.CSafeLoader):
    """YAML 1.2 booleans only, timestamps as strings: the spec's enum value `Off` must stay a string."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


def spec_file() -> Path | None:
    """The subset has every operation the client uses and loads in milliseconds; the full spec is the fallback."""
    for candidate in (SUBSET, FULL):
        if candidate.is_file():
            return candidate
    return None


class Contract:
    """Checks recorded exchanges against the official OpenAPI spec with openapi-core (and openapi-schema-validator
    for the form-encoded token request, whose nested anyOf openapi-core's form decoder does not follow)."""

    def __init__(self, path: Path) -> None:
        from openapi_core import Config, OpenAPI
        from openapi_schema_validator import OAS30Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4

        self.path = path
        with path.open("rb") as stream:
            self.spec: dict[str, Any] = yaml.load(stream, Loader=_Yaml12Loader)  # a subclass of the safe loader
        self.api = OpenAPI.from_dict(self.spec, config=Config(spec_validator_cls=None))
        self.registry = Registry().with_resource("urn:spec", Resource.from_contents(self.spec, DRAFT4))
        self.validator_class = OAS30Validator
        self.operations: dict[str, tuple[str, str, dict[str, Any]]] = {}
        for route, item in self.spec["paths"].items():
            for method, operation in item.items():
                if isinstance(operation, dict) and "operationId" in operation:
                    self.operations[operation["operationId"]] = (route, method, operation)

    def schema_errors(self, ref: str, value: Any) -> list[str]:
        validator = self.validator_class({"$ref": f"urn:spec#/components/schemas/{ref}"}, registry=self.registry)
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(value)
        ]

    def _resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in item:
            node: Any = self.spec
            for part in item["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            item = node
        return item

    def declared_parameters(self, operation_id: str) -> set[str]:
        route, _, operation = self.operations[operation_id]
        parameters = [*self.spec["paths"][route].get("parameters", []), *operation.get("parameters", [])]
        resolved = [self._resolve(parameter) for parameter in parameters]
        return {parameter["name"] for parameter in resolved if parameter["in"] == "query"}

    def check(self, exchange: Exchange) -> list[str]:
        """Every way `exchange` breaks the spec, as readable lines (empty when it conforms)."""
        from openapi_core.testing import MockRequest, MockResponse
        from openapi_core.validation.request.validators import V30RequestParametersValidator

        label = f"{exchange.method} {exchange.path} → {exchange.status} ({exchange.operation})"
        if exchange.operation not in self.operations:
            return [f"{label}: operation not in {self.path.name}"]
        _, _, operation = self.operations[exchange.operation]
        problems: list[str] = []
        content_type = exchange.headers.get("content-type", "application/json")
        request = MockRequest(
            MEDIA if exchange.operation in MEDIA_OPERATIONS else PLATFORM,
            exchange.method.lower(),
            exchange.path,
            args=exchange.query,
            headers=exchange.headers,
            data=exchange.body or None,
            content_type=content_type,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openapi-core warns that it cannot check the OAuth2 scheme
            # --- the request
            undeclared = {key for key, _ in exchange.query} - self.declared_parameters(exchange.operation)
            if undeclared:
                problems.append(f"{label}: query parameters not in the spec: {sorted(undeclared)}")
            scheme = exchange.headers.get("authorization", "").split(" ", 1)[0]
            if exchange.operation == "getToken":
                problems += [f"{label}: {e}" for e in V30RequestParametersValidator(self.api.spec).iter_errors(request)]
                if scheme != "Basic":
                    problems.append(f"{label}: the token request must use Basic client authentication")
                form = dict(parse_qsl(exchange.body.decode(), keep_blank_values=True))
                problems += [f"{label} form: {e}" for e in self.schema_errors("GetTokenRequest", form)]
            else:
                if scheme != "Bearer":
                    problems.append(f"{label}: Authorization scheme is {scheme!r}, not 'Bearer'")
                try:
                    self.api.validate_request(request)
                except Exception as error:
                    problems.append(f"{label}: request: {error!r} {error.__cause__ or ''}")
            # --- the answer
            answer_type = exchange.response_headers.get("content-type", "").split(";")[0].strip()
            if (exchange.operation, answer_type) in KNOWN_GAPS:
                return problems
            if str(exchange.status) in operation.get("responses", {}):
                response = MockResponse(
                    exchange.response_body, status_code=exchange.status, content_type=answer_type or "application/json"
                )
                try:
                    self.api.validate_response(request, response)
                except Exception as error:
                    problems.append(f"{label}: answer: {error!r} {getattr(error, '__cause__', '') or ''}")
            else:
                # Statuses the spec does not list for the operation (401, 429, 400 on message-sync) must still
                # carry RingCentral's standard error body.
                try:
                    body = json.loads(exchange.response_body)
                except ValueError:
                    problems.append(f"{label}: error answer is not JSON")
                else:
                    problems += [f"{label} error body: {e}" for e in self.schema_errors("ApiErrorResponseModel", body)]
        return problems


_contract: dict[str, Contract | None] = {}


def load_contract() -> Contract | None:
    if "contract" not in _contract:
        path = spec_file()
        _contract["contract"] = Contract(path) if path else None
    return _contract["contract"]


@pytest.fixture(scope="session")
def contract() -> Contract:
    found = load_contract()
    if found is None:
        pytest.skip(f"the official RingCentral spec is not at {SPEC_DIR} (it lives in ../shared, outside the repo)")
    return found


class Sim:
    """The running simulator and its control API (over HTTP, as the demo uses it)."""

    def __init__(self, base_url: str, simulator: Any) -> None:
        self.base_url = base_url
        self.simulator = simulator
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10)
        self.checked = True

    def off_contract(self) -> None:
        """This test sends requests the spec forbids on purpose; skip the contract check at its end."""
        self.checked = False

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.http.request(method, path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def reset(self, **config: Any) -> None:
        await self.control("POST", "/_sim/reset", config)

    async def add_call(self, **spec: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.control("POST", "/_sim/calls", spec)
        return result

    async def add_calls(self, count: int, **spec: Any) -> list[str]:
        result = await self.control("POST", "/_sim/calls", {"count": count, **spec})
        return list(result["ids"])

    async def update_call(self, call_id: str, **changes: Any) -> None:
        await self.control("PATCH", f"/_sim/calls/{call_id}", changes)

    async def add_message(self, **spec: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.control("POST", "/_sim/messages", spec)
        return result

    async def update_message(self, message_id: int, **changes: Any) -> None:
        await self.control("PATCH", f"/_sim/messages/{message_id}", changes)

    async def fault(self, **fault: Any) -> None:
        await self.control("POST", "/_sim/faults", fault)

    async def rate_limit(self, group: str, **limit: Any) -> None:
        await self.control("PUT", f"/_sim/rate-limits/{group}", limit)

    async def advance(self, seconds: float) -> None:
        await self.control("POST", "/_sim/clock", {"advance_s": seconds})

    async def revoke_sessions(self, *, refresh: bool = True) -> None:
        await self.control("POST", "/_sim/sessions/revoke", {"refresh": refresh})

    async def reset_sync(self, error_code: str = "CLG-101") -> None:
        await self.control("POST", "/_sim/sync/reset", {"error_code": error_code})

    async def sent_sms(self) -> list[dict[str, Any]]:
        return list((await self.control("GET", "/_sim/sms"))["sent"])

    async def counts(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.control("GET", "/_sim/requests")
        return result

    def exchanges(self, operation: str | None = None) -> list[Exchange]:
        return [e for e in self.simulator.recorded() if operation is None or e.operation == operation]


@pytest.fixture(scope="session")
def simulator_server() -> Any:
    with serve_in_thread(CONFIG) as running:
        yield running


@pytest.fixture
async def sim(simulator_server: Any) -> Any:
    handle = Sim(simulator_server.base_url, simulator_server.simulator)
    await handle.reset()
    yield handle
    await handle.http.aclose()
    contract = load_contract()
    if contract is not None and handle.checked:
        problems = [problem for exchange in handle.exchanges() for problem in contract.check(exchange)]
        assert not problems, "off-contract exchanges:\n" + "\n".join(problems)


@pytest.fixture
def sim_credentials(sim: Sim) -> dict[str, Any]:
    """The service settings that point at the simulator, with the credentials it accepts."""
    return {
        "ringcentral_server_url": sim.base_url,
        "ringcentral_media_url": sim.base_url,
        "ringcentral_client_id": CONFIG.client_id,
        "ringcentral_client_secret": CONFIG.client_secret,
        "ringcentral_jwt": CONFIG.jwt,
    }


@pytest.fixture
async def redis_factory(redis_url: str | None) -> Any:
    """Makes Redis connections that all see the same data, as separate processes would (one namespace per test)."""
    server = fakeredis.FakeServer()
    made: list[redis.Redis] = []

    def connect() -> redis.Redis:
        client: redis.Redis = (
            redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            if redis_url
            else fakeredis.FakeAsyncRedis(server=server)
        )
        made.append(client)
        return client

    yield connect
    for client in made:
        await client.aclose()


@pytest.fixture
def namespace() -> str:
    return f"zaps:test:ringcentral:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def make_client(sim: Sim, redis_factory: Any, namespace: str, redis_url: str | None) -> Any:
    """A RingCentralClient on the simulator; each call is another "process" sharing the same store."""
    clients: list[RingCentralClient] = []

    def build(**options: Any) -> RingCentralClient:
        settings: dict[str, Any] = {
            "server_url": sim.base_url,
            "media_url": sim.base_url,
            "client_id": CONFIG.client_id,
            "client_secret": SecretStr(CONFIG.client_secret),
            "jwt": SecretStr(CONFIG.jwt),
            "namespace": namespace,
            "max_wait_s": 5.0,
            "timeout_s": 5.0,
        }
        if "redis_client" not in options:
            settings["redis_client"] = redis_factory()
        settings.update(options)
        client = RingCentralClient(**settings)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()
    if redis_url:
        cleaner = redis.Redis.from_url(redis_url)
        keys = [key async for key in cleaner.scan_iter(match=f"{namespace}:*")]
        if keys:
            await cleaner.delete(*keys)
        await cleaner.aclose()
