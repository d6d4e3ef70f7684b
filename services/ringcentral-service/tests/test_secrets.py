"""Credentials and tokens never reach a log line, an exception message or a repr."""

import base64
import logging

import pytest
from pydantic import SecretStr
from ringcentral_service.errors import AuthError, ServerError
from ringcentral_service.tokens import read_token

# The simulator's default credentials (conftest builds every client with them).
CLIENT_ID = "sim-client-id"
CLIENT_SECRET = "sim-client-secret"
JWT = "sim-jwt-credential"


def leaked(text, secrets):
    return [secret for secret in secrets if secret in text]


async def test_a_failed_login_leaks_no_credential(sim, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    wrong_secret = "wrong-client-secret-4711"
    client = make_client(client_secret=SecretStr(wrong_secret))
    basic = base64.b64encode(f"{CLIENT_ID}:{wrong_secret}".encode()).decode()

    with pytest.raises(AuthError) as raised:
        await client.call_log_sync("FSync")

    secrets = [wrong_secret, JWT, basic]
    assert leaked(str(raised.value), secrets) == []
    assert leaked(repr(raised.value), secrets) == []
    assert leaked(caplog.text, secrets) == []
    assert raised.value.oauth_error == "invalid_client"


async def test_a_server_error_that_echoes_credentials_is_scrubbed(sim, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client()
    await client.call_log_sync("FSync")
    token = await read_token(client.store)
    assert token is not None
    echo = f"boom: secret={CLIENT_SECRET} jwt={JWT} at={token.access_token} rt={token.refresh_token}"
    await sim.fault(operation="syncUserCallLog", status=500, message=echo)

    with pytest.raises(ServerError) as raised:
        await client.call_log_sync("FSync")

    secrets = [CLIENT_SECRET, JWT, token.access_token, token.refresh_token]
    assert leaked(str(raised.value), secrets) == []
    assert leaked(repr(raised.value), secrets) == []
    assert leaked(caplog.text, secrets) == []
    assert "[redacted]" in str(raised.value)


async def test_reprs_show_no_credential_or_token(sim, make_client):
    client = make_client()
    await client.call_log_sync("FSync")
    token = await read_token(client.store)
    assert token is not None

    shown = " ".join([repr(client), repr(client.tokens), repr(token), str(token)])

    assert leaked(shown, [CLIENT_SECRET, JWT, token.access_token, token.refresh_token]) == []
