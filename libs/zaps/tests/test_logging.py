"""Logs are one JSON object per line with the context ids, and a known secret never reaches the output."""

import io
import json
import logging

import pytest
from zaps.logging import bound, configure_logging, redact, request_id_var, run_id_var

SECRET = "s3cr3t-Value-4242"


@pytest.fixture
def output():
    stream = io.StringIO()
    configure_logging(service="unit", level="DEBUG", secrets=[SECRET], stream=stream)
    yield stream
    configure_logging(service="unit", level="WARNING")


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_json_with_timestamp_level_service_and_ids(output):
    with bound(request_id_var, "req-1"), bound(run_id_var, "run-9"):
        logging.getLogger("x").info("hello %s", "world", extra={"automation": "a1"})
    (entry,) = lines(output)
    assert entry["msg"] == "hello world"
    assert entry["level"] == "info"
    assert entry["service"] == "unit"
    assert entry["request_id"] == "req-1"
    assert entry["run_id"] == "run-9"
    assert entry["automation"] == "a1"
    assert entry["ts"].endswith("+00:00")


def test_known_secret_never_reaches_the_output(output):
    log = logging.getLogger("leaky")
    log.info("token is %s", SECRET)
    log.warning("calling", extra={"headers": {"X-Custom": SECRET}, "note": f"value={SECRET}"})
    try:
        raise ValueError(f"upstream refused {SECRET}")
    except ValueError:
        log.exception("failed")
    text = output.getvalue()
    assert SECRET not in text
    assert text.count("[redacted]") >= 4


@pytest.mark.parametrize(
    "message",
    [
        "Authorization: Bearer abc.def.ghi",
        "connecting to postgresql://zaps:pa55word@db:5432/zaps",
        'body {"client_secret": "xyz-unknown-secret"}',
        "password=hunter2hunter2",
    ],
)
def test_credential_shapes_are_redacted_even_when_unknown(output, message):
    logging.getLogger("x").info(message)
    (entry,) = lines(output)
    assert "[redacted]" in entry["msg"]
    for leaked in ("abc.def.ghi", "pa55word", "xyz-unknown-secret", "hunter2hunter2"):
        assert leaked not in entry["msg"]


def test_secret_named_fields_are_redacted(output):
    logging.getLogger("x").info("login", extra={"password": "plain-unknown", "api_key": "k-unknown"})
    (entry,) = lines(output)
    assert entry["password"] == "[redacted]"
    assert entry["api_key"] == "[redacted]"


def test_redact_removes_the_given_secrets_and_bare_bearer_credentials():
    echoed = "refused client sec-4711-abc; header was Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig"

    text = redact(echoed, ["sec-4711-abc", "abc"])  # a secret under four characters is too short to cut out

    assert text == "refused client [redacted]; header was Bearer [redacted]"


def test_redact_leaves_prose_about_basic_or_bearer_alone():
    assert redact("basic settings and bearer tokens") == "basic settings and bearer tokens"
