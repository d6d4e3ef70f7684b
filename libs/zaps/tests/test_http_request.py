"""What `run.http` records of a call and keeps of an answer (zaps.actions.request): no credential, a bounded size."""

import json

import httpx
import pytest
from zaps.actions.request import MAX_ANSWER_CHARS, HttpCall, answer_of, default_on_unsure
from zaps.engine.run import MAX_RECORDED_BYTES

URL = "https://api.example.com/v1/contacts"


def test_the_recorded_input_keeps_the_call_but_no_credential():
    call = HttpCall(
        method="post",
        url="https://bob:hunter2-pass@api.example.com/v1/contacts?api_key=k-123456&page=2",
        headers={"Authorization": "Bearer abcdef123456", "X-Api-Key": "xk-987654", "Accept": "application/json"},
        query={"access_token": "at-555555", "q": "ada"},
        json_body={"name": "Ada", "auth": {"password": "pw-777777"}, "items": [{"client_secret": "cs-888888"}]},
        bearer="bearer-999999",
    )
    shown = json.dumps(call.recorded())
    for secret in ("hunter2-pass", "k-123456", "abcdef123456", "xk-987654", "at-555555", "pw-777777", "cs-888888"):
        assert secret not in shown
    assert "bearer-999999" not in shown
    recorded = call.recorded()
    assert recorded["method"] == "POST"
    assert recorded["url"] == "https://[redacted]@api.example.com/v1/contacts?api_key=[redacted]&page=2"
    assert recorded["headers"]["Accept"] == "application/json"
    assert recorded["query"] == {"access_token": "[redacted]", "q": "ada"}
    assert recorded["json"]["name"] == "Ada"
    assert recorded["auth"] == "bearer"


def test_a_secret_url_is_shown_by_its_host_only():
    call = HttpCall(method="POST", url="https://hooks.example.com/services/T0/B0/s3cretpath", url_is_secret=True)
    assert call.recorded()["url"] == "https://hooks.example.com/[redacted]"
    assert "https://hooks.example.com/services/T0/B0/s3cretpath" in call.secrets()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"json_body": {"a": 1}, "form": {"b": "2"}}, "one body"),
        ({"auth": ("u", "p"), "bearer": "t"}, "not both"),
        ({"method": "FETCH"}, "method must be"),
        ({"url": "ftp://example.com/x"}, "http:// or https://"),
        ({"timeout_s": 0}, "positive"),
    ],
)
def test_a_call_described_wrongly_is_refused_before_anything_is_sent(options, message):
    values = {"method": "GET", "url": URL, **options}
    with pytest.raises(ValueError, match=message):
        HttpCall(**values)


def test_a_large_answer_is_cut_to_fit_the_ledger_and_says_so():
    request = httpx.Request("GET", URL)
    large = httpx.Response(200, json={"rows": ["x" * 100] * 1000}, request=request)
    escaped = httpx.Response(200, text='"\n' * 8000, headers={"content-type": "text/plain"}, request=request)
    for response in (large, escaped):
        answer = answer_of(response, [])
        assert answer["truncated"] is True
        assert len(json.dumps(answer)) <= MAX_ANSWER_CHARS < MAX_RECORDED_BYTES


def test_an_answer_quoting_the_calls_own_secret_is_kept_without_it():
    request = httpx.Request("GET", URL)
    response = httpx.Response(200, json={"echo": "Bearer tok-123456789", "access_token": "new-one"}, request=request)
    answer = answer_of(response, ["tok-123456789"])
    assert answer["body"] == {"echo": "Bearer [redacted]", "access_token": "new-one"}  # what was asked for stays


def test_the_default_unsure_rule_is_hold_unless_the_target_deduplicates_on_a_key():
    assert default_on_unsure(None) == "hold"
    assert default_on_unsure("Idempotency-Key") == "resend"
