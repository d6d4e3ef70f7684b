"""What a webhook's body becomes as the event's payload, chosen by its Content-Type:

- JSON (`application/json`, any `…+json`, or no Content-Type at all): the JSON value as sent, any value (object,
  array, string, number…), at most 64 levels deep; a body that does not parse is refused (422).
- A form (`application/x-www-form-urlencoded`, as HTML forms and Twilio send): an object of the fields, each value a
  string; a field sent more than once, or whose name ends in `[]` (`interests[]`, as PHP forms name checkbox
  groups), is a list of its values in the order sent, so its type never depends on how many boxes were ticked.
- Anything else (`text/plain`, `text/xml`, `multipart/form-data`…): stored raw, as
  `{"content_type": "<as sent>", "text": "<the body>"}`, or `{"content_type": …, "base64": …}` when the body is not
  text in its declared charset (UTF-8 if none) or holds a NUL, which PostgreSQL cannot store in text.
"""

from __future__ import annotations

import base64
import codecs
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from zaps.errors import InvalidPayload

# Deeper JSON is refused (422): no sender needs it, and everything that reads the payload later (the handler, the
# console, json.dumps) walks it recursively.
MAX_DEPTH = 64
MAX_FORM_FIELDS = 1000


@dataclass(frozen=True)
class Parsed:
    payload: Any
    json_text: str | None = None  # for a JSON body: the text as sent, stored without serialising it again


def nesting_depth(value: Any) -> int:
    """How many arrays and objects deep `value` goes, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def media_type(content_type: str | None) -> tuple[str, str | None]:
    """("application/json", "utf-8") from "Application/JSON; charset=UTF-8"; the charset is None when not given."""
    if not content_type:
        return "", None
    kind, *params = content_type.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return kind.strip().lower(), charset


def _codec(charset: str | None) -> str:
    try:
        return codecs.lookup(charset or "utf-8").name
    except LookupError:
        raise InvalidPayload(f"unknown charset {charset[:40]!r}" if charset else "unknown charset") from None


def parse_json(body: bytes) -> Parsed:
    try:
        text = body.decode()
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayload("body is not valid JSON") from None
    except RecursionError:
        raise InvalidPayload(f"body is nested deeper than {MAX_DEPTH} levels") from None
    if nesting_depth(payload) > MAX_DEPTH:
        raise InvalidPayload(f"body is nested deeper than {MAX_DEPTH} levels")
    return Parsed(payload, json_text=text)


def parse_form(body: bytes, charset: str | None) -> Parsed:
    codec = _codec(charset)
    try:
        pairs = parse_qsl(
            body.decode(codec),
            keep_blank_values=True,
            encoding=codec,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeError:
        raise InvalidPayload(f"form body is not valid {codec}") from None
    except ValueError:
        raise InvalidPayload(f"form has more than {MAX_FORM_FIELDS} fields") from None
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = [value] if name.endswith("[]") else value
    return Parsed(fields)


def parse_other(body: bytes, content_type: str, charset: str | None) -> Parsed:
    try:
        text = body.decode(codecs.lookup(charset or "utf-8").name)
    except (LookupError, UnicodeDecodeError):
        text = None
    if text is None or "\x00" in text:
        return Parsed({"content_type": content_type, "base64": base64.b64encode(body).decode()})
    return Parsed({"content_type": content_type, "text": text})


def parse_body(body: bytes, content_type: str | None) -> Parsed:
    kind, charset = media_type(content_type)
    if kind in ("", "application/json") or kind.endswith("+json"):
        return parse_json(body)
    if kind == "application/x-www-form-urlencoded":
        return parse_form(body, charset)
    return parse_other(body, (content_type or "")[:200], charset)
