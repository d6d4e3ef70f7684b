"""How each webhook route reads in the OpenAPI docs (/docs): what to sign and how, with a worked example, the bodies
it takes, and every answer it gives. The example headers are computed by the scheme itself from a sample secret,
so they are always right (and never the real secret)."""

from __future__ import annotations

import json
from typing import Any

from zaps import signing
from zaps.engine.bodies import MAX_DEPTH
from zaps.engine.triggers import Webhook

PATH_TOKEN_SUFFIX = "/t/{token}"
EXAMPLE_SECRET = "example-secret"
EXAMPLE_TIME = 1796290020
EXAMPLE_BODIES: dict[str, Any] = {
    "stripe": {"id": "evt_1Example", "object": "event", "type": "payment_intent.succeeded"},
    "slack": {"type": "event_callback", "event_id": "Ev0EXAMPLE", "event": {"type": "app_mention", "text": "hi"}},
}
DEFAULT_EXAMPLE: dict[str, Any] = {"order": 1042, "total": 99.5}

# Any JSON value (senders post objects, arrays, even bare strings), a form, or any other body kept raw.
REQUEST_CONTENT: dict[str, Any] = {
    "application/json": {"schema": {}},
    "application/x-www-form-urlencoded": {
        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        "example": {"name": "Ada", "email": "ada@example.com", "message": "Hello"},
    },
    "text/plain": {"schema": {"type": "string"}, "example": "any text, stored raw with its content type"},
}


def example_body(trigger: Webhook) -> bytes:
    name = trigger.scheme.name if trigger.scheme else ""
    return json.dumps(EXAMPLE_BODIES.get(name, DEFAULT_EXAMPLE), separators=(",", ":")).encode()


def example_headers(trigger: Webhook) -> dict[str, str]:
    body = example_body(trigger)
    if trigger.scheme is not None:
        return trigger.scheme.sign(EXAMPLE_SECRET, body, EXAMPLE_TIME)
    if trigger.secret_setting:
        return signing.sign(EXAMPLE_SECRET, body, EXAMPLE_TIME)
    return {"Authorization": "Bearer <token>"}


def describe(trigger: Webhook, *, token_in_path: bool) -> str:
    if token_in_path:
        how = (
            "Authenticated by the shared token in the URL itself, for senders that cannot set headers (an HTML "
            "form's `action`, Twilio): `POST .../t/<token>`. Zaps masks the token in its logs and Traefik does not "
            "log these requests."
        )
    elif trigger.scheme is not None:
        how = trigger.scheme.describe()
    elif trigger.secret_setting:
        how = (
            "Signed with HMAC-SHA256: header `X-Zaps-Timestamp` (Unix seconds) and `X-Zaps-Signature: v1=<hex of "
            "HMAC(secret, timestamp + '.' + body)>`; identical bodies are one event. To make retries of one delivery "
            "count once by a key instead, send `Idempotency-Key: <key>` and sign it: `X-Zaps-Signature: v2=<hex of "
            "HMAC(secret, timestamp + '\\n' + key + '\\n' + body)>`. A key that is not signed is ignored."
        )
    else:
        how = (
            "Authenticated by a shared token: `Authorization: Bearer <token>` or `X-Zaps-Token: <token>`. Identical "
            "bodies are one event (an `Idempotency-Key` header is ignored: the token does not sign it)."
        )
    text = (
        f"{how}\n\nBody: JSON (any value), a form (`application/x-www-form-urlencoded`: an object of fields, a "
        "repeated field or one named `…[]` a list), or anything else, stored raw as `{content_type, text}` (or "
        "`base64`)."
    )
    if not token_in_path:
        shown = "\n".join(f"    {name}: {value}" for name, value in example_headers(trigger).items())
        text += (
            f"\n\nExample, with the secret `{EXAMPLE_SECRET}` at Unix time {EXAMPLE_TIME} (the body exactly as "
            f"shown):\n\n    {example_body(trigger).decode()}\n\n{shown}"
        )
    return text


def openapi_extra(trigger: Webhook, *, token_in_path: bool) -> dict[str, Any]:
    content = {**REQUEST_CONTENT}
    content["application/json"] = {"schema": {}, "example": json.loads(example_body(trigger))}
    extra: dict[str, Any] = {"requestBody": {"required": True, "content": content}}
    if token_in_path:
        extra["parameters"] = [
            {
                "name": "token",
                "in": "path",
                "required": True,
                "description": "the shared token (never shown here)",
                "schema": {"type": "string", "maxLength": 512},
            }
        ]
    return extra


def responses(trigger: Webhook) -> dict[int | str, dict[str, Any]]:
    error = {"application/json": {"schema": {"type": "object"}}}
    answers: dict[int | str, dict[str, Any]] = {
        401: {"description": "Missing, wrong or stale signature or token: nothing stored", "content": error},
        413: {"description": "Body over the limit", "content": error},
        422: {
            "description": f"Body does not parse as its Content-Type says, or nests deeper than {MAX_DEPTH} levels",
            "content": error,
        },
        503: {"description": "Not stored (database unavailable, or the secret is not set): retry", "content": error},
    }
    if trigger.reply is not None:
        reply = trigger.reply
        answer: dict[str, Any] = {
            "description": "Stored (or already stored before): the automation's configured reply",
            "content": {reply.content_type: {"schema": {"type": "string"}, "example": reply.body}},
        }
        if reply.location:
            answer["headers"] = {"Location": {"schema": {"type": "string"}, "example": reply.location}}
        answers[reply.status] = answer
    else:
        receipt = {
            "application/json": {
                "schema": {"type": "object"},
                "example": {"event_id": 42, "duplicate": False, "runs": 1},
            }
        }
        answers[202] = {"description": "Stored as a new event", "content": receipt}
        answers[200] = {
            "description": "This delivery was received before: stored once, nothing new runs",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    if trigger.scheme is not None and trigger.scheme.name == "slack":
        challenge = {"schema": {"type": "string"}, "example": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
        answers.setdefault(200, {"description": "", "content": {}})
        answers[200]["description"] += " / a `url_verification` request: its challenge, as text (no event)"
        answers[200]["content"] = {**answers[200].get("content", {}), "text/plain": challenge}
    return answers
