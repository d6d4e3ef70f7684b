"""Inbound webhooks: POST {prefix}/hooks/{automation}.

Checks, in order: the body fits the limit (413), the signature or token is right (401), the body is JSON (422).
Then the event and its runs are committed in one transaction, and only then the sender gets 202; if the database
does not answer, 503, so the sender retries. The automation itself never runs inside the request.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb

from zaps import signing
from zaps.context import get_runtime
from zaps.engine import repository
from zaps.engine.automation import Automation
from zaps.engine.triggers import Webhook, setting_value
from zaps.errors import InvalidPayload, PayloadTooLarge, Unauthorized, ZapsError
from zaps.settings import SettingsT, ZapsSettings

# Never stored with the event (the console shows stored headers): credentials of any kind.
PRIVATE_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-zaps-token", signing.SIGNATURE_HEADER}


# Deeper JSON is refused (422): no sender needs it, and everything that reads the payload later (the handler, the
# console, json.dumps) walks it recursively.
MAX_DEPTH = 64


def nesting_depth(value: Any) -> int:
    """How many arrays and objects deep `value` goes, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class MisconfiguredWebhook(ZapsError):
    status_code = 503
    code = "webhook_not_configured"


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def authenticate(trigger: Webhook, settings: ZapsSettings, request: Request, body: bytes) -> str | None:
    """Refuse a request without the right signature or token; return the Idempotency-Key its signature covers."""
    if trigger.secret_setting:
        secret = setting_value(settings, trigger.secret_setting)
        if not secret:
            raise MisconfiguredWebhook(f"{trigger.secret_setting.upper()} is not set; this webhook refuses everything")
        try:
            return signing.verify(
                secret,
                body,
                request.headers.get(signing.TIMESTAMP_HEADER),
                request.headers.get(signing.SIGNATURE_HEADER),
                idempotency_key=request.headers.get(signing.IDEMPOTENCY_HEADER),
                tolerance_s=trigger.tolerance_s,
            )
        except signing.SignatureError as error:
            raise Unauthorized(str(error)) from None
    token = setting_value(settings, trigger.token_setting)
    if not token:
        raise MisconfiguredWebhook(
            f"{(trigger.token_setting or '').upper()} is not set; this webhook refuses everything"
        )
    offered = request.headers.get("x-zaps-token")
    authorization = request.headers.get("authorization", "")
    if offered is None and authorization.lower().startswith("bearer "):
        offered = authorization[7:].strip()
    if not signing.token_matches(token, offered):
        raise Unauthorized("missing or wrong token")
    return None  # a token proves who sent the request, not that this copy is the first


def dedup_key(trigger: Webhook, payload: Any, signed_key: str | None, body: bytes) -> str:
    """The event's unique key, from what the sender signed only: a header or a copy anyone could re-send with a
    new key must land on the same event as the first."""
    if trigger.dedup is not None:
        return str(trigger.dedup(payload))[:500]
    if signed_key is not None:
        return "key:" + signed_key
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _as_is(text: str) -> str:
    return text


def webhook_router(automations: list[Automation[SettingsT]]) -> APIRouter:
    router = APIRouter(tags=["webhooks"])
    for automation in automations:
        if isinstance(automation.trigger, Webhook):
            router.add_api_route(
                f"/hooks/{automation.local_name}",
                _endpoint(automation, automation.trigger),
                methods=["POST"],
                status_code=202,
                name=f"webhook:{automation.name}",
                summary=f"Trigger {automation.name}",
                description=_describe(automation.trigger),
                openapi_extra={
                    "requestBody": {
                        "required": True,
                        # Any JSON value: senders post objects, arrays, even bare strings.
                        "content": {"application/json": {"schema": {}}},
                    }
                },
                responses={
                    200: {"description": "This delivery was received before: stored once, nothing new runs"},
                    401: {"description": "Missing or wrong signature or token"},
                    413: {"description": "Body over the limit"},
                    422: {"description": f"Body is not JSON, or nested deeper than {MAX_DEPTH} levels"},
                    503: {"description": "Not stored (database unavailable): retry"},
                },
            )
    return router


def _describe(trigger: Webhook) -> str:
    if trigger.secret_setting:
        return (
            "Signed with HMAC-SHA256: header `X-Zaps-Timestamp` (Unix seconds) and `X-Zaps-Signature: v1=<hex of "
            "HMAC(secret, timestamp + '.' + body)>`; identical bodies are one event. To make retries of one delivery "
            "count once by a key instead, send `Idempotency-Key: <key>` and sign it: `X-Zaps-Signature: v2=<hex of "
            "HMAC(secret, timestamp + '\\n' + key + '\\n' + body)>`. A key that is not signed is ignored."
        )
    return (
        "Authenticated by a shared token: `Authorization: Bearer <token>` or `X-Zaps-Token: <token>`. Identical "
        "bodies are one event (an `Idempotency-Key` header is ignored: the token does not sign it)."
    )


def _endpoint(automation: Automation[SettingsT], trigger: Webhook) -> Any:
    async def receive(request: Request) -> JSONResponse:
        runtime = get_runtime(request)
        body = await read_limited(request, trigger.body_limit)
        signed_key = authenticate(trigger, runtime.settings, request, body)
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise InvalidPayload("body is not valid JSON") from None
        except RecursionError:
            raise InvalidPayload(f"body is nested deeper than {MAX_DEPTH} levels") from None
        if nesting_depth(payload) > MAX_DEPTH:
            raise InvalidPayload(f"body is nested deeper than {MAX_DEPTH} levels")
        headers = {k: v for k, v in request.headers.items() if k not in PRIVATE_HEADERS}
        try:
            async with runtime.database.connection() as conn:
                ingested = await repository.ingest(
                    conn,
                    source=automation.source,
                    key=dedup_key(trigger, payload, signed_key, body),
                    # The body as sent (it parsed as JSON): stored without serialising it a second time.
                    payload=Jsonb(body.decode(), dumps=_as_is),
                    kind="webhook",
                    headers=headers,
                    code_version=runtime.settings.code_version,
                )
            for queue in ingested.queues:
                runtime.wakeup.request(queue)
        except psycopg.DataError:  # valid JSON that PostgreSQL will not store, e.g. a \u0000 in a string
            raise InvalidPayload("body holds characters that cannot be stored (such as \\u0000)") from None
        return JSONResponse(
            {"event_id": ingested.event_id, "duplicate": ingested.duplicate, "runs": len(ingested.run_ids)},
            status_code=202 if not ingested.duplicate else 200,
        )

    receive.__name__ = f"webhook_{automation.local_name.replace('-', '_')}"
    return receive
