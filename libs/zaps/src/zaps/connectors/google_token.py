"""An OAuth access token for a Google service account, made by google-auth and kept until shortly before it expires.

google-auth builds and signs the JWT-bearer grant and reads the token endpoint's answer; its refresh is a blocking
call (a synchronous HTTP request), so it runs in a thread, one at a time, and the token is reused by every step of
the process until it is near its expiry (Google's last an hour).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.oauth2 import service_account

from zaps.retry import PermanentError, RetryableError

# Refresh this long before the expiry, so that a token never runs out between being handed out and being used.
EARLY = timedelta(minutes=5)
KEY_FIELDS = ("client_email", "private_key", "token_uri")


class BadKey(ValueError):
    """The service account key is not one (the message names what is wrong, never a value from the key)."""


def parse_key(text: str) -> dict[str, Any]:
    """The service account's JSON key as a dict, or `BadKey` saying what is missing. Only field names are told:
    the text is a secret."""
    try:
        info = json.loads(text)
    except ValueError:
        raise BadKey("is not JSON: paste the whole key file Google gave you") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise BadKey('is not a service account key (its "type" is not "service_account")')
    missing = [name for name in KEY_FIELDS if not isinstance(info.get(name), str) or not info[name]]
    if missing:
        raise BadKey(f"lacks {', '.join(missing)}")
    try:  # read the private key now, so that a damaged one stops the start rather than the first run
        service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]
    except ValueError:
        raise BadKey("has a private_key that is not a PEM key") from None
    return info


class _TimedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport with our timeout (its own default is two minutes)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(requests.Session())
        self.timeout_s = timeout_s

    def __call__(
        self, url: Any, method: Any = "GET", body: Any = None, headers: Any = None, timeout: Any = None, **kwargs: Any
    ) -> Any:
        # google-auth is not typed: its calls are marked so below.
        return super().__call__(  # type: ignore[no-untyped-call]
            url, method=method, body=body, headers=headers, timeout=self.timeout_s, **kwargs
        )


class ServiceAccountToken:
    def __init__(self, info: dict[str, Any], *, scopes: list[str], token_uri: str | None, timeout_s: float) -> None:
        if token_uri:  # a test's fake, or a proxy: instead of the key's own token_uri
            info = {**info, "token_uri": token_uri}
        self.client_email: str = info["client_email"]
        self._credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=scopes
        )
        self._request = _TimedRequest(timeout_s)
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        expiry = self._credentials.expiry  # naive UTC, as google-auth keeps it
        if not self._credentials.token or not isinstance(expiry, datetime):
            return False
        return bool(expiry.replace(tzinfo=UTC) - datetime.now(UTC) > EARLY)

    async def get(self) -> str:
        """A valid access token; fetched from the token endpoint only when the one held is near its expiry."""
        async with self._lock:  # one refresh at a time; the others wait and take its token
            if not self._fresh():
                await asyncio.to_thread(self._refresh)
            token: str = self._credentials.token
            return token

    def forget(self) -> None:
        """Drop the token (Google refused it): the next `get` asks for a new one."""
        self._credentials.token = None

    def _refresh(self) -> None:
        try:
            self._credentials.refresh(self._request)
        except google.auth.exceptions.RefreshError as error:
            # google-auth's first argument is the endpoint's "error: error_description"; it never holds the key.
            said = str(error.args[0]) if error.args else type(error).__name__
            if getattr(error, "retryable", False):
                raise RetryableError(f"Google's token endpoint is unavailable: {said}") from None
            raise PermanentError(
                f"Google refused the service account key of {self.client_email} ({said}): the key may have been "
                "deleted or disabled, or the JSON is not the one Google gave; make a new key for the account"
            ) from None
        except google.auth.exceptions.TransportError as error:
            # Asking for a token changes nothing at Google: always safe to try again later.
            # google-auth wraps the transport's own error: its type says which (ReadTimeout, ConnectionError).
            cause = error.__cause__ or (error.args[0] if error.args and isinstance(error.args[0], Exception) else error)
            raise RetryableError(f"Google's token endpoint did not answer: {type(cause).__name__}") from None

    def close(self) -> None:
        self._request.session.close()
