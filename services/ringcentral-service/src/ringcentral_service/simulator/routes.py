"""The simulator's HTTP face: RingCentral's paths (as in the official spec) and a control API under /_sim/.

Every RingCentral-shaped request goes through one pipeline — forced fault, then the bearer token, then the rate
budget of its group, then the handler — and is recorded with its answer, so the contract test can check both
against the spec. The routes live on an APIRouter so the same simulator can run as its own app (tests, `python -m
ringcentral_service.simulator`) or inside the service in demo mode.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ringcentral_service.simulator.answers import Answer, Exchange, QueryView
from ringcentral_service.simulator.config import Fault, GroupLimit, SimulatorError
from ringcentral_service.simulator.state import Simulator

ACCOUNT = "/restapi/v1.0/account/{accountId}"
EXTENSION = ACCOUNT + "/extension/{extensionId}"

Handler = Callable[[Simulator, Request, bytes, str], Answer]


def _api_base(request: Request, base_path: str) -> str:
    return str(request.base_url).rstrip("/") + base_path


def _spec_path(request: Request) -> str:
    """The path as RingCentral would see it (without any prefix the simulator is mounted under)."""
    path = request.url.path
    return path[path.index("/restapi/") :] if "/restapi/" in path else path


def _to_response(answer: Answer) -> Response:
    headers = {"RCRequestId": str(uuid.uuid4()), **answer.headers}
    if isinstance(answer.body, bytes):
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type, headers=headers)
    content = b"" if answer.body is None else json.dumps(answer.body).encode()
    return Response(content, status_code=answer.status, media_type=answer.content_type, headers=headers)


def _recorded_headers(request: Request) -> dict[str, str]:
    headers = {key.lower(): value for key, value in request.headers.items()}
    if "authorization" in headers:
        # Keep the scheme (the contract test checks it), never the credential.
        headers["authorization"] = headers["authorization"].split(" ", 1)[0] + " [redacted]"
    return headers


def build_router(
    get_simulator: Callable[[Request], Simulator], *, base_path: str = "", include_in_schema: bool = True
) -> APIRouter:
    router = APIRouter(include_in_schema=include_in_schema)

    def operation(
        method: str, path: str, operation_id: str, group: str, *, authenticated: bool = True
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                simulator = get_simulator(request)
                body = await request.body()
                answer = await _pipeline(simulator, request, body, operation_id, group, authenticated, handler)
                response = _to_response(answer)
                simulator.record(
                    Exchange(
                        operation=operation_id,
                        method=method,
                        url=str(request.url),
                        path=_spec_path(request),
                        query=list(request.query_params.multi_items()),
                        headers=_recorded_headers(request),
                        body=body,
                        status=response.status_code,
                        response_headers={k.lower(): v for k, v in response.headers.items()},
                        response_body=bytes(response.body),
                    )
                )
                return response

            router.add_api_route(path, endpoint, methods=[method], name=operation_id)
            return handler

        return register

    async def _pipeline(
        simulator: Simulator,
        request: Request,
        body: bytes,
        operation_id: str,
        group: str,
        authenticated: bool,
        handler: Handler,
    ) -> Answer:
        fault = simulator.take_fault(operation_id)
        if fault is not None:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.status is not None:
                return simulator.fault_answer(fault, group)
        if authenticated:
            _, refused = simulator.authenticate(request.headers.get("authorization"))
            if refused is not None:
                return refused
        rate_headers, throttled = simulator.charge(group)
        if throttled is not None:
            return throttled
        answer = handler(simulator, request, body, _api_base(request, base_path))
        answer.headers.update(rate_headers)
        return answer

    def query(request: Request) -> QueryView:
        return QueryView(list(request.query_params.multi_items()))

    # --- RingCentral ---------------------------------------------------------------------------------------

    @operation("POST", "/restapi/oauth/token", "getToken", "Auth", authenticated=False)
    def get_token(simulator: Simulator, request: Request, body: bytes, api_base: str) -> Answer:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return simulator.token(request.headers.get("authorization"), request.headers.get("content-type", ""), form)

    @operation("GET", EXTENSION + "/call-log-sync", "syncUserCallLog", "Heavy")
    def sync_user_call_log(simulator: Simulator, request: Request, body: bytes, api_base: str) -> Answer:
        return simulator.call_log_sync("extension", query(request), api_base, str(request.url))

    @operation("GET", ACCOUNT + "/call-log-sync", "syncAccountCallLog", "Heavy")
    def sync_account_call_log(simulator: Simulator, request: Request, body: bytes, api_base: str) -> Answer:
        return simulator.call_log_sync("account", query(request), api_base, str(request.url))

    @operation("GET", EXTENSION + "/call-log", "readUserCallLog", "Heavy")
    def read_user_call_log(simulator: Simulator, request: Request, body: bytes, api_base: str) -> Answer:
        page_url = str(request.url).split("?", 1)[0]
        return simulator.call_log_list("extension", query(request), api_base, page_url)

    @operation("GET", ACCOUNT + "/call-log", "readCompanyCallLog", "Heavy")
    def read_company_call_log(simulator: Simulator, request: Request, body: bytes, api_base: str) -> Answer:
        page_url = str(request.url).split("?", 1)[0]
        return simulator.call_log_list("account", query(request), api_base, page_url)

    @operation("GET", EXTENSION + "/message-sync", "syncMessages", "Light")
    def sync_messages(simulator: Simulator, request: Request, body: bytes, api_base: str) -> Answer:
        return simulator.message_sync(query(request), api_base, str(request.url))

    @operation("POST", EXTENSION + "/sms", "createSMSMessage", "Medium")
    def create_sms(simulator: Simulator, request: Request, body: bytes, api_base: str) -> Answer:
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        return simulator.send_sms(payload, api_base)

    @operation("GET", EXTENSION + "/message-store/{messageId}/content/{attachmentId}", "readMessageContent", "Medium")
    def read_message_content(simulator: Simulator, request: Request, body: bytes, api_base: str) -> Answer:
        return simulator.message_content(request.path_params["messageId"], request.path_params["attachmentId"])

    @operation("GET", ACCOUNT + "/recording/{recordingId}/content", "readCallRecordingContent", "Heavy")
    def read_recording_content(simulator: Simulator, request: Request, body: bytes, api_base: str) -> Answer:
        return simulator.recording_content(request.path_params["recordingId"])

    # --- control API (tests and the demo) ------------------------------------------------------------------

    async def control(request: Request, action: Callable[[Simulator, dict[str, Any]], Any]) -> Response:
        simulator = get_simulator(request)
        raw = await request.body()
        try:
            payload = json.loads(raw) if raw else {}
            if not isinstance(payload, dict):
                raise SimulatorError("the body must be a JSON object")
            result = action(simulator, payload)
        except (SimulatorError, TypeError, ValueError, KeyError) as error:
            return JSONResponse({"error": str(error)}, status_code=422)
        return JSONResponse(result if result is not None else {"ok": True})

    def reset(simulator: Simulator, payload: dict[str, Any]) -> None:
        simulator.reset(simulator.base_config.with_overrides(payload))

    def add_calls(simulator: Simulator, payload: dict[str, Any]) -> Any:
        count = payload.pop("count", None)
        if count is not None:
            return {"ids": simulator.add_calls(int(count), **payload)}
        return simulator.add_call(**payload)

    def add_fault(simulator: Simulator, payload: dict[str, Any]) -> None:
        simulator.add_fault(Fault(**payload))

    def requests_seen(simulator: Simulator, payload: dict[str, Any]) -> Any:
        return simulator.counts()

    def exchanges(simulator: Simulator, payload: dict[str, Any]) -> Any:
        return [
            {
                "operation": item.operation,
                "method": item.method,
                "path": item.path,
                "query": item.query,
                "status": item.status,
            }
            for item in simulator.recorded()
        ]

    routes: list[tuple[str, str, Callable[[Simulator, dict[str, Any]], Any]]] = [
        ("POST", "/_sim/reset", reset),
        ("POST", "/_sim/calls", add_calls),
        ("POST", "/_sim/messages", lambda s, p: s.add_message(**p)),
        ("POST", "/_sim/faults", add_fault),
        ("DELETE", "/_sim/faults", lambda s, p: s.clear_faults()),
        ("POST", "/_sim/clock", lambda s, p: s.advance(float(p["advance_s"]))),
        ("POST", "/_sim/sessions/revoke", lambda s, p: s.revoke_sessions(refresh=bool(p.get("refresh", True)))),
        ("POST", "/_sim/sync/reset", lambda s, p: s.reset_sync(str(p.get("error_code", "CLG-101")))),
        ("GET", "/_sim/sms", lambda s, p: {"sent": s.sms_log()}),
        ("GET", "/_sim/requests", requests_seen),
        ("GET", "/_sim/exchanges", exchanges),
    ]
    for method, path, action in routes:
        router.add_api_route(path, _control_endpoint(control, action), methods=[method])

    async def update_call(request: Request) -> Response:
        call_id = request.path_params["call_id"]
        return await control(request, lambda s, p: s.update_call(call_id, **p))

    async def update_message(request: Request) -> Response:
        message_id = int(request.path_params["message_id"])
        return await control(request, lambda s, p: s.update_message(message_id, **p))

    async def set_rate_limit(request: Request) -> Response:
        group = request.path_params["group"]
        return await control(request, lambda s, p: s.set_rate_limit(group, GroupLimit(**p)))

    router.add_api_route("/_sim/calls/{call_id}", update_call, methods=["PATCH"])
    router.add_api_route("/_sim/messages/{message_id}", update_message, methods=["PATCH"])
    router.add_api_route("/_sim/rate-limits/{group}", set_rate_limit, methods=["PUT"])
    return router


def _control_endpoint(
    control: Callable[[Request, Callable[[Simulator, dict[str, Any]], Any]], Any],
    action: Callable[[Simulator, dict[str, Any]], Any],
) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        response: Response = await control(request, action)
        return response

    return endpoint
