"""Inbound webhooks: POST {prefix}/hooks/{automation} (and .../t/<token> for a token in the URL).

Checks, in order: the body fits the limit (413), the signature or token is right (401), the body parses as its
Content-Type says (422; see `zaps.engine.bodies`). Then the event and its runs are committed in one transaction, and
only then the sender gets 202 (or the automation's `reply`); if the database does not answer, 503, so the sender
retries. The automation itself never runs inside the request.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from psycopg.types.json import Jsonb

from zaps import signing
from zaps.context import get_runtime
from zaps.engine import repository
from zaps.engine.automation import Automation
from zaps.engine.bodies import MAX_DEPTH, parse_body
from zaps.engine.openapi_webhooks import PATH_TOKEN_SUFFIX, describe, openapi_extra, responses
from zaps.engine.schemes import Reply, body_key
from zaps.engine.triggers import Webhook, setting_value
from zaps.errors import InvalidPayload, PayloadTooLarge, Unauthorized, ZapsError
from zaps.settings import SettingsT, ZapsSettings

# Never stored with the event (the console shows stored headers): credentials and signatures of any kind.
PRIVATE_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-zaps-token", signing.SIGNATURE_HEADER}

__all__ = ["MAX_DEPTH", "webhook_router"]


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
    """Refuse a request without the right signature or token; return the event key its signature covers, if any."""
    if trigger.scheme is not None:
        secret = _secret(settings, trigger.scheme.secret_setting)
        try:
            trigger.scheme.verify(secret, request.headers, body)
        except signing.SignatureError as error:
            raise Unauthorized(str(error)) from None
        return trigger.scheme.event_key(body)
    if trigger.secret_setting:
        secret = _secret(settings, trigger.secret_setting)
        try:
            signed = signing.verify(
                secret,
                body,
                request.headers.get(signing.TIMESTAMP_HEADER),
                request.headers.get(signing.SIGNATURE_HEADER),
                idempotency_key=request.headers.get(signing.IDEMPOTENCY_HEADER),
                tolerance_s=trigger.tolerance_s,
            )
        except signing.SignatureError as error:
            raise Unauthorized(str(error)) from None
        return None if signed is None else "key:" + signed
    token = _secret(settings, trigger.token_setting)
    if "token" in request.path_params:
        # The token route takes the token from its path only: compared in constant time like a header's.
        offered: str | None = request.path_params["token"]
    else:
        offered = request.headers.get("x-zaps-token")
        authorization = request.headers.get("authorization", "")
        if offered is None and authorization.lower().startswith("bearer "):
            offered = authorization[7:].strip()
    if not signing.token_matches(token, offered):
        raise Unauthorized("missing or wrong token")
    return None  # a token proves who sent the request, not that this copy is the first


def _secret(settings: ZapsSettings, name: str | None) -> str:
    secret = setting_value(settings, name)
    if not secret:
        raise MisconfiguredWebhook(f"{(name or '').upper()} is not set; this webhook refuses everything")
    return secret


def dedup_key(trigger: Webhook, payload: Any, signed_key: str | None, body: bytes) -> str:
    """The event's unique key, from what the sender signed only: a header or a copy anyone could re-send with a
    new key must land on the same event as the first."""
    if trigger.dedup is not None:
        return str(trigger.dedup(payload))[:500]
    return signed_key or body_key(body)


def _as_is(text: str) -> str:
    return text


def replied(reply: Reply) -> Response:
    headers = {"location": reply.location} if reply.location else None
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type, headers=headers)


def webhook_router(automations: list[Automation[SettingsT]]) -> APIRouter:
    router = APIRouter(tags=["webhooks"])
    for automation in automations:
        trigger = automation.trigger
        if not isinstance(trigger, Webhook):
            continue
        paths = [f"/hooks/{automation.local_name}"]
        if trigger.path_token:
            paths.append(f"/hooks/{automation.local_name}{PATH_TOKEN_SUFFIX}")
        for path in paths:
            in_path = path.endswith(PATH_TOKEN_SUFFIX)
            router.add_api_route(
                path,
                _endpoint(automation, trigger),
                methods=["POST"],
                status_code=trigger.reply.status if trigger.reply else 202,
                response_class=Response,  # every answer's content is documented by `responses` below
                name=f"webhook:{automation.name}" + (":path-token" if in_path else ""),
                summary=f"Trigger {automation.name}" + (" (token in the URL)" if in_path else ""),
                description=describe(trigger, token_in_path=in_path),
                openapi_extra=openapi_extra(trigger, token_in_path=in_path),
                responses=responses(trigger),
            )
    return router


def _endpoint(automation: Automation[SettingsT], trigger: Webhook) -> Any:
    async def receive(request: Request) -> Response:
        runtime = get_runtime(request)
        body = await read_limited(request, trigger.body_limit)
        signed_key = authenticate(trigger, runtime.settings, request, body)
        parsed = parse_body(body, request.headers.get("content-type"))
        handshake = trigger.scheme.answer(parsed.payload) if trigger.scheme else None
        if handshake is not None:  # e.g. Slack's url_verification: answered, and no event
            return replied(handshake)
        private = PRIVATE_HEADERS | (trigger.scheme.private_headers() if trigger.scheme else set())
        headers = {k: v for k, v in request.headers.items() if k not in private}
        # The JSON text as sent is stored without serialising it a second time; a form or raw body as built.
        payload = Jsonb(parsed.json_text, dumps=_as_is) if parsed.json_text is not None else Jsonb(parsed.payload)
        try:
            async with runtime.database.connection() as conn:
                ingested = await repository.ingest(
                    conn,
                    source=automation.source,
                    key=dedup_key(trigger, parsed.payload, signed_key, body),
                    payload=payload,
                    kind="webhook",
                    headers=headers,
                    code_version=runtime.settings.code_version,
                )
            for queue in ingested.queues:
                runtime.wakeup.request(queue)
        except psycopg.DataError:  # a value PostgreSQL will not store, e.g. a \u0000 in a string
            raise InvalidPayload("body holds characters that cannot be stored (such as \\u0000)") from None
        if trigger.reply is not None:  # the same answer for a duplicate: the sender's retry must be satisfied too
            return replied(trigger.reply)
        return JSONResponse(
            {"event_id": ingested.event_id, "duplicate": ingested.duplicate, "runs": len(ingested.run_ids)},
            status_code=202 if not ingested.duplicate else 200,
        )

    receive.__name__ = f"webhook_{automation.local_name.replace('-', '_')}"
    return receive
