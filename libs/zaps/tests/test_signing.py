"""The webhook signature scheme: v1 signs the body, v2 the body and the Idempotency-Key; what each returns and
refuses."""

import re
from pathlib import Path
from typing import Any

import pytest
from zaps import signing

SECRET = "signing-test-secret"
NOW = 1_764_090_000
BODY = b'{"order": 1}'


def test_v1_signs_the_body_only_and_covers_no_key():
    headers = signing.sign(SECRET, BODY, NOW)

    assert headers["X-Zaps-Signature"].startswith("v1=")
    assert "Idempotency-Key" not in headers
    # A key sent beside a v1 signature is not covered by it: verify says so by returning None.
    covered = signing.verify(
        SECRET, BODY, headers["X-Zaps-Timestamp"], headers["X-Zaps-Signature"], idempotency_key="any", now=NOW
    )
    assert covered is None


def test_v2_signs_the_key_and_returns_it():
    headers = signing.sign(SECRET, BODY, NOW, idempotency_key="order-1")

    assert headers["Idempotency-Key"] == "order-1"
    assert headers["X-Zaps-Signature"].startswith("v2=")
    covered = signing.verify(
        SECRET, BODY, headers["X-Zaps-Timestamp"], headers["X-Zaps-Signature"], idempotency_key="order-1", now=NOW
    )
    assert covered == "order-1"


def test_a_v2_signature_is_judged_alone_even_beside_a_valid_v1():
    v1 = signing.sign(SECRET, BODY, NOW)["X-Zaps-Signature"]
    v2 = signing.sign(SECRET, BODY, NOW, idempotency_key="order-1")["X-Zaps-Signature"]

    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(SECRET, BODY, str(NOW), f"{v2},{v1}", idempotency_key="order-2", now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature", "key", "message"),
    [
        (None, "v1=00", None, "missing"),
        ("١٧٦٤٠٩٠٠٠٠", "v1=00", None, "not a Unix time"),
        ("9" * 5000, "v1=00", None, "not a Unix time"),
        (str(NOW - 301), "v1=00", None, "tolerance window"),
        (str(NOW), "v1=é", None, "does not match"),
        (str(NOW), "v2=00", None, "needs the Idempotency-Key"),
        (str(NOW), "v2=00", "line\nbreak", "printable ASCII"),
        (str(NOW), "v2=00", "k" * 451, "printable ASCII"),
    ],
)
def test_refusals_name_the_reason(timestamp, signature, key, message):
    with pytest.raises(signing.SignatureError, match=message):
        signing.verify(SECRET, BODY, timestamp, signature, idempotency_key=key, now=NOW)


def test_a_key_that_cannot_be_signed_unambiguously_is_refused_when_signing():
    with pytest.raises(ValueError, match="printable ASCII"):
        signing.sign(SECRET, BODY, NOW, idempotency_key="a\nb")


def test_the_python_recipe_in_the_webhook_docs_makes_signatures_zaps_accepts():
    docs = (Path(__file__).parents[3] / "docs" / "webhooks.md").read_text()
    # The page has other Python blocks (provider schemes, the contact form): the recipe is the one that signs.
    (recipe,) = [
        block for block in re.findall(r"```python\n(.*?)```", docs, flags=re.S) if "def signed_headers" in block
    ]
    namespace: dict[str, Any] = {}
    exec(recipe, namespace)
    body = b'{"id": "A-1", "total": 250}'

    v1 = namespace["signed_headers"]("docs-secret", body)
    v2 = namespace["signed_headers"]("docs-secret", body, "order-A-1")

    assert signing.verify("docs-secret", body, v1["X-Zaps-Timestamp"], v1["X-Zaps-Signature"]) is None
    signed_key = signing.verify(
        "docs-secret", body, v2["X-Zaps-Timestamp"], v2["X-Zaps-Signature"], idempotency_key=v2["Idempotency-Key"]
    )
    assert signed_key == "order-A-1"
    with pytest.raises(signing.SignatureError):
        signing.verify("another-secret", body, v1["X-Zaps-Timestamp"], v1["X-Zaps-Signature"])
