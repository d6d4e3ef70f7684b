"""Which access token do we send, and who renews it? One token for every worker and replica, renewed by one of them.

RingCentral lets an app hold only a few sessions per user and allows 5 token requests a minute, so logging in per
process or per poll is not an option (research §1). The token lives in the shared store. Ahead of its expiry one
process takes a lock (SET NX PX, released only by its holder) and renews it; the others wait for the lock and read
the new token. Renewal uses the single-use refresh token, and falls back to a fresh JWT login when RingCentral
refuses the refresh token (expired, revoked, already used).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from ringcentral_service.errors import AuthError, NetworkError, RateLimited, ServerError, error_from_response
from ringcentral_service.rate_limits import RateBudgets
from ringcentral_service.store import SharedStore

logger = logging.getLogger(__name__)

TOKEN_PATH = "/restapi/oauth/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_KEY = "token"
LOCK_KEY = "token-lock"
AUTH_GROUP = "Auth"  # the token endpoint's rate-limit group: 5 requests a minute
# A token this close to its expiry is not sent: the request could arrive after it died.
SAFETY_S = 5.0


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    expires_at: float
    obtained_at: float
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: float | None = None
    owner_id: str | None = None
    scope: str = ""

    def refresh_due(self, refresh_margin_s: float) -> float:
        """When to renew: `refresh_margin_s` before expiry, or at 80 % of a short lifetime."""
        lifetime = self.expires_at - self.obtained_at
        return self.expires_at - min(refresh_margin_s, lifetime * 0.2)

    def usable(self, now: float) -> bool:
        return now < self.expires_at - SAFETY_S

    def refreshable(self, now: float) -> bool:
        if not self.refresh_token:
            return False
        return self.refresh_expires_at is None or now < self.refresh_expires_at - SAFETY_S

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "obtained_at": self.obtained_at,
            "refresh_token": self.refresh_token,
            "refresh_expires_at": self.refresh_expires_at,
            "owner_id": self.owner_id,
            "scope": self.scope,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Token:
        return cls(
            access_token=str(value["access_token"]),
            expires_at=float(value["expires_at"]),
            obtained_at=float(value["obtained_at"]),
            refresh_token=value.get("refresh_token"),
            refresh_expires_at=value.get("refresh_expires_at"),
            owner_id=value.get("owner_id"),
            scope=str(value.get("scope") or ""),
        )


async def read_token(store: SharedStore) -> Token | None:
    stored = await store.get_json(TOKEN_KEY)
    if stored is None:
        return None
    try:
        return Token.from_json(stored)
    except (KeyError, TypeError, ValueError):
        return None  # an unreadable entry costs one login, nothing more


class TokenManager:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        server_url: str,
        client_id: str,
        client_secret: SecretStr,
        jwt: SecretStr,
        store: SharedStore,
        budgets: RateBudgets,
        clock: Callable[[], float] = time.time,
        refresh_margin_s: float = 300.0,
        lock_ttl_s: float = 30.0,
        poll_s: float = 0.05,
    ) -> None:
        self.http = http
        self.token_url = server_url.rstrip("/") + TOKEN_PATH
        self._client_id = client_id
        self._client_secret = client_secret
        self._jwt = jwt
        self.store = store
        self.budgets = budgets
        self.clock = clock
        self.refresh_margin_s = refresh_margin_s
        self.lock_ttl_s = lock_ttl_s
        self.poll_s = poll_s
        self._last_seen: Token | None = None

    def __repr__(self) -> str:
        return f"TokenManager(token_url={self.token_url!r})"

    def secrets(self) -> list[str]:
        """Every credential this manager has held, so error messages can be scrubbed of them."""
        values = [self._client_secret.get_secret_value(), self._jwt.get_secret_value()]
        if self._last_seen is not None:
            values.append(self._last_seen.access_token)
            if self._last_seen.refresh_token:
                values.append(self._last_seen.refresh_token)
        return values

    async def current(self) -> Token | None:
        token = await read_token(self.store)
        if token is not None:
            self._last_seen = token
        return token

    async def access_token(self) -> str:
        """A token to send now; renewed first if it is due (by this process or, if it holds the lock, another)."""
        token = await self.current()
        now = self.clock()
        if token is not None and now < token.refresh_due(self.refresh_margin_s) and token.usable(now):
            return token.access_token
        return (await self._renew(rejected=None)).access_token

    async def after_unauthorized(self, rejected: str) -> str:
        """RingCentral answered 401 to `rejected`: get a token that is not that one (renewing it if nobody has)."""
        return (await self._renew(rejected=rejected)).access_token

    def _acceptable(self, token: Token | None, now: float, rejected: str | None) -> bool:
        if token is None or not token.usable(now):
            return False
        if rejected is not None:
            return token.access_token != rejected
        return now < token.refresh_due(self.refresh_margin_s)

    async def _renew(self, *, rejected: str | None) -> Token:
        deadline = time.monotonic() + self.lock_ttl_s + 5
        while True:
            lock = await self.store.acquire_lock(LOCK_KEY, ttl_s=self.lock_ttl_s)
            if lock is not None:
                try:
                    # Read again under the lock: the previous holder may have renewed it a moment ago.
                    token = await self.current()
                    if self._acceptable(token, self.clock(), rejected):
                        assert token is not None
                        return token
                    token = await self._obtain(token)
                    await self._save(token)
                    return token
                finally:
                    await self.store.release_lock(LOCK_KEY, lock)
            # Another process is renewing: its new token is the one to use (the old one dies on refresh).
            while await self.store.lock_held(LOCK_KEY):
                if time.monotonic() > deadline:
                    raise AuthError("timed out waiting for another process to renew the RingCentral token")
                await asyncio.sleep(self.poll_s)
            token = await self.current()
            if self._acceptable(token, self.clock(), rejected):
                assert token is not None
                return token

    async def _obtain(self, previous: Token | None) -> Token:
        now = self.clock()
        if previous is not None and previous.refreshable(now):
            assert previous.refresh_token is not None
            try:
                return await self._grant({"grant_type": "refresh_token", "refresh_token": previous.refresh_token})
            except AuthError as error:
                logger.warning(
                    "ringcentral: refresh token refused; logging in with the JWT again",
                    extra={"error_codes": list(error.error_codes), "oauth_error": error.oauth_error},
                )
        return await self._grant({"grant_type": JWT_GRANT, "assertion": self._jwt.get_secret_value()})

    async def _grant(self, form: dict[str, str]) -> Token:
        grant = "jwt" if form["grant_type"] == JWT_GRANT else "refresh_token"
        await self.budgets.wait_turn(AUTH_GROUP)
        try:
            response = await self.http.post(
                self.token_url,
                data=form,
                auth=httpx.BasicAuth(self._client_id, self._client_secret.get_secret_value()),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as error:
            # `from None`: the httpx error holds the request, and the request holds the JWT or refresh token.
            raise NetworkError(f"RingCentral getToken failed: {type(error).__name__}", operation="getToken") from None
        await self.budgets.observe(AUTH_GROUP, response.status_code, response.headers)
        if response.status_code != 200:
            failure = error_from_response(
                response.status_code,
                response.headers,
                response.content,
                operation="getToken",
                group=AUTH_GROUP,
                secrets=[*self.secrets(), *form.values()],
            )
            if isinstance(failure, RateLimited):
                await self.budgets.penalise(AUTH_GROUP, failure.retry_after)
            raise failure
        try:
            body = response.json()
            now = self.clock()
            refresh_in = body.get("refresh_token_expires_in")
            token = Token(
                access_token=str(body["access_token"]),
                expires_at=now + float(body["expires_in"]),
                obtained_at=now,
                refresh_token=body.get("refresh_token"),
                refresh_expires_at=None if refresh_in is None else now + float(refresh_in),
                owner_id=None if body.get("owner_id") is None else str(body["owner_id"]),
                scope=str(body.get("scope") or ""),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            # An answer that is not RingCentral's (a proxy's error page, say) is worth another try later.
            raise ServerError("RingCentral getToken answered 200 without a token", operation="getToken") from None
        logger.info(
            "ringcentral: token obtained",
            extra={"grant": grant, "expires_in_s": round(token.expires_at - now), "owner_id": token.owner_id},
        )
        return token

    async def _save(self, token: Token) -> None:
        self._last_seen = token
        lives_until = token.refresh_expires_at or token.expires_at
        await self.store.set_json(TOKEN_KEY, token.to_json(), ttl_s=max(lives_until - self.clock(), 1.0))
