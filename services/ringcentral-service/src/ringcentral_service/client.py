"""How do we talk to RingCentral? An async client for the few endpoints the poller and the SMS action need.

Every call waits for its rate-limit group, carries `Authorization: Bearer …` (capital B: Prism and some proxies
match the scheme case-sensitively, and RingCentral's own `token_type` is lower case), renews the token once if
RingCentral answers 401, waits out a 429 a bounded number of times, and turns any other failure into one of the
types in `errors`. It never retries a 5xx itself: the engine decides, because for a POST the outcome is unknown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import redis.asyncio as redis
from pydantic import SecretStr

from ringcentral_service.errors import NetworkError, RateLimited, Rejected, ServerError, error_from_response
from ringcentral_service.rate_limits import RateBudgets
from ringcentral_service.settings import Settings
from ringcentral_service.store import SharedStore, namespace_for
from ringcentral_service.tokens import TokenManager

logger = logging.getLogger(__name__)

SyncType = Literal["FSync", "ISync"]
CallLogLevel = Literal["extension", "account"]
CallLogView = Literal["Simple", "Detailed"]
MessageType = Literal["SMS", "VoiceMail", "Fax", "Pager"]

ACCOUNT_PATH = "/restapi/v1.0/account/~"
EXTENSION_PATH = ACCOUNT_PATH + "/extension/~"
MAX_SYNC_RECORDS = 250  # call-log-sync: FSync recordCount at most 250, ISync answers at most 250 (research §2.2)
MAX_PER_PAGE = 1000
MAX_SMS_TEXT_UNITS = 1000  # UTF-16 code units (research §2.7)
# The spec's x-throttling-group of each operation (the contract test holds this table to the spec).
OPERATION_GROUPS = {
    "getToken": "Auth",
    "syncUserCallLog": "Heavy",
    "syncAccountCallLog": "Heavy",
    "readUserCallLog": "Heavy",
    "readCompanyCallLog": "Heavy",
    "syncMessages": "Light",
    "createSMSMessage": "Medium",
    "readMessageContent": "Medium",
    "readCallRecordingContent": "Heavy",
}


@dataclass(frozen=True)
class SyncResult:
    """One call-log-sync or message-sync answer: the records and the token for the next ISync."""

    records: list[dict[str, Any]]
    sync_type: str
    sync_token: str
    sync_time: str
    older_records_exist: bool = False


@dataclass(frozen=True)
class CallLogPage:
    records: list[dict[str, Any]]
    page: int | None
    next_page_uri: str | None
    total_elements: int | None = None


@dataclass(frozen=True)
class Media:
    content: bytes
    content_type: str


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as RingCentral's examples write it; naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("datetimes sent to RingCentral must carry a timezone")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RingCentralClient:
    def __init__(
        self,
        *,
        server_url: str,
        media_url: str,
        client_id: str,
        client_secret: SecretStr,
        jwt: SecretStr,
        redis_client: redis.Redis | None,
        namespace: str | None = None,
        timeout_s: float = 30.0,
        max_rate_limit_retries: int = 3,
        max_wait_s: float = 60.0,
        refresh_margin_s: float = 300.0,
        lock_ttl_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.media_url = media_url.rstrip("/")
        self.max_rate_limit_retries = max_rate_limit_retries
        self.max_wait_s = max_wait_s
        self._own_http = http is None
        # Every call has a deadline; connecting gets less: a host that does not accept within 5 s is down.
        self.http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)), transport=transport
        )
        self.store = SharedStore(
            redis_client,
            namespace or namespace_for(self.server_url, client_id, jwt.get_secret_value()),
        )
        self.budgets = RateBudgets(self.store, clock=clock, max_wait_s=max_wait_s)
        self.tokens = TokenManager(
            http=self.http,
            server_url=self.server_url,
            client_id=client_id,
            client_secret=client_secret,
            jwt=jwt,
            store=self.store,
            budgets=self.budgets,
            clock=clock,
            refresh_margin_s=refresh_margin_s,
            lock_ttl_s=lock_ttl_s,
        )

    @classmethod
    def from_settings(cls, settings: Settings, redis_client: redis.Redis | None, **options: Any) -> RingCentralClient:
        credentials = settings.ringcentral_credentials()
        if credentials is None:
            raise ValueError("RingCentral is not configured: set RINGCENTRAL_CLIENT_ID, _CLIENT_SECRET and _JWT")
        client_id, client_secret, jwt = credentials
        return cls(
            server_url=settings.ringcentral_server_url,
            media_url=settings.ringcentral_media_url,
            client_id=client_id,
            client_secret=client_secret,
            jwt=jwt,
            redis_client=redis_client,
            **options,
        )

    def __repr__(self) -> str:
        return f"RingCentralClient(server_url={self.server_url!r}, media_url={self.media_url!r})"

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    async def __aenter__(self) -> RingCentralClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- the one place requests are sent -------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Sequence[tuple[str, str]] | None = None,
        json: dict[str, Any] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        group = OPERATION_GROUPS[operation]
        renewed = False
        rate_limited = 0
        while True:
            await self.budgets.wait_turn(group)
            token = await self.tokens.access_token()
            try:
                response = await self.http.request(
                    method,
                    url,
                    params=list(params) if params else None,
                    json=json,
                    headers={"Authorization": f"Bearer {token}", "Accept": accept},
                )
            except httpx.HTTPError as error:
                # `from None`: the httpx error holds the request, and the request holds the bearer token.
                message = f"RingCentral {operation} failed: {type(error).__name__}"
                raise NetworkError(message, operation=operation) from None
            await self.budgets.observe(group, response.status_code, response.headers)
            if response.is_success:
                return response
            failure = error_from_response(
                response.status_code,
                response.headers,
                response.content,
                operation=operation,
                group=group,
                secrets=self.tokens.secrets(),
            )
            if response.status_code == 401 and not renewed:
                # Expired or revoked mid-flight (another process refreshed, or the session ended): renew once.
                renewed = True
                logger.info("ringcentral: token refused; renewing it and retrying", extra={"operation": operation})
                await self.tokens.after_unauthorized(token)
                continue
            if isinstance(failure, RateLimited):
                await self.budgets.penalise(group, failure.retry_after)
                if rate_limited < self.max_rate_limit_retries and failure.retry_after <= self.max_wait_s:
                    rate_limited += 1
                    continue
            raise failure

    def _json(self, response: httpx.Response, operation: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ServerError(f"RingCentral {operation} answered {response.status_code} without a JSON object")
        return body

    def _sync_result(self, response: httpx.Response, operation: str) -> SyncResult:
        body = self._json(response, operation)
        info = body.get("syncInfo")
        records = body.get("records")
        if not isinstance(info, dict) or not isinstance(records, list) or not info.get("syncToken"):
            raise ServerError(f"RingCentral {operation} answered without records and a syncInfo.syncToken")
        return SyncResult(
            records=records,
            sync_type=str(info.get("syncType", "")),
            sync_token=str(info["syncToken"]),
            sync_time=str(info.get("syncTime", "")),
            older_records_exist=bool(info.get("olderRecordsExist", False)),
        )

    # --- call log ----------------------------------------------------------------------------------------

    async def call_log_sync(
        self,
        sync_type: SyncType,
        *,
        sync_token: str | None = None,
        date_from: datetime | None = None,
        level: CallLogLevel = "extension",
        record_count: int | None = None,
        status_group: Literal["All", "Missed"] | None = None,
        view: CallLogView = "Detailed",
    ) -> SyncResult:
        """FSync (the newest `record_count` records, at most 250) or ISync (what changed since `sync_token`).

        Raises SyncTokenInvalid when RingCentral wants an FSync (CLG-10x, or more than 250 changes waiting).
        `view="Detailed"` by default because only it carries `lastModifiedTime`, the version of a record.
        """
        if sync_type == "ISync" and not sync_token:
            raise ValueError("ISync needs the syncToken of the previous sync")
        if sync_type == "FSync" and record_count is None:
            record_count = MAX_SYNC_RECORDS  # required for FSync
        if record_count is not None and not 1 <= record_count <= MAX_SYNC_RECORDS:
            raise ValueError(f"record_count must be between 1 and {MAX_SYNC_RECORDS}")
        params: list[tuple[str, str]] = [("syncType", sync_type)]
        if sync_type == "ISync" and sync_token:
            params.append(("syncToken", sync_token))
        if date_from is not None:
            params.append(("dateFrom", iso(date_from)))
        if record_count is not None:
            params.append(("recordCount", str(record_count)))
        if status_group is not None:
            params.append(("statusGroup", status_group))
        params.append(("view", view))
        if level == "extension":
            path, operation = EXTENSION_PATH + "/call-log-sync", "syncUserCallLog"
        else:
            path, operation = ACCOUNT_PATH + "/call-log-sync", "syncAccountCallLog"
        response = await self._send("GET", self.server_url + path, operation=operation, params=params)
        return self._sync_result(response, operation)

    async def call_log_list(
        self,
        *,
        date_from: datetime,
        date_to: datetime | None = None,
        per_page: int = MAX_PER_PAGE,
        page: int = 1,
        level: CallLogLevel = "extension",
        view: CallLogView = "Detailed",
    ) -> CallLogPage:
        """One page of the call log, newest first, for backfill beyond what a sync frame holds.

        `date_from` is required because RingCentral's default is only the last 24 hours.
        """
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        params = [("dateFrom", iso(date_from)), ("perPage", str(per_page)), ("page", str(page)), ("view", view)]
        if date_to is not None:
            params.append(("dateTo", iso(date_to)))
        path, operation = (
            (EXTENSION_PATH + "/call-log", "readUserCallLog")
            if level == "extension"
            else (ACCOUNT_PATH + "/call-log", "readCompanyCallLog")
        )
        response = await self._send("GET", self.server_url + path, operation=operation, params=params)
        return self._call_log_page(response, operation)

    async def call_log_next(self, page: CallLogPage) -> CallLogPage | None:
        """The page after `page`, by its `navigation.nextPage.uri` (the totals may be missing); None at the end."""
        if page.next_page_uri is None:
            return None
        url = self._own_url(page.next_page_uri, self.server_url)
        operation = "readUserCallLog" if "/extension/" in url else "readCompanyCallLog"
        response = await self._send("GET", url, operation=operation)
        return self._call_log_page(response, operation)

    async def iter_call_log(self, **query: Any) -> AsyncIterator[dict[str, Any]]:
        """Every record of `call_log_list(**query)`, following the pages to the end."""
        current: CallLogPage | None = await self.call_log_list(**query)
        while current is not None:
            for record in current.records:
                yield record
            current = await self.call_log_next(current)

    def _call_log_page(self, response: httpx.Response, operation: str) -> CallLogPage:
        body = self._json(response, operation)
        records = body.get("records")
        if not isinstance(records, list):
            raise ServerError(f"RingCentral {operation} answered without records")
        navigation = body.get("navigation") or {}
        paging = body.get("paging") or {}
        next_page = navigation.get("nextPage") or {}
        return CallLogPage(
            records=records,
            page=paging.get("page"),
            next_page_uri=next_page.get("uri"),
            total_elements=paging.get("totalElements"),
        )

    # --- messages ----------------------------------------------------------------------------------------

    async def message_sync(
        self,
        sync_type: SyncType,
        *,
        sync_token: str | None = None,
        date_from: datetime | None = None,
        message_types: Sequence[MessageType] = ("SMS", "VoiceMail", "Fax"),
        record_count: int | None = None,
    ) -> SyncResult:
        """FSync or ISync of the message store. ISync windows overlap by about 5 s, so expect repeats.

        Raises SyncTokenInvalid on MSG-333 ("full synchronization is required").
        """
        if sync_type == "ISync" and not sync_token:
            raise ValueError("ISync needs the syncToken of the previous sync")
        params: list[tuple[str, str]] = [("syncType", sync_type)]
        if sync_type == "ISync" and sync_token:
            params.append(("syncToken", sync_token))
        else:
            # The filters belong to the sync frame the FSync sets up; the token carries them from then on.
            params.extend(("messageType", message_type) for message_type in message_types)
        if date_from is not None:
            params.append(("dateFrom", iso(date_from)))
        if record_count is not None:
            params.append(("recordCount", str(record_count)))
        operation = "syncMessages"
        response = await self._send(
            "GET",
            self.server_url + EXTENSION_PATH + "/message-sync",
            operation=operation,
            params=params,
        )
        return self._sync_result(response, operation)

    async def send_sms(self, *, from_number: str, to_number: str, text: str, idempotency_key: str) -> dict[str, Any]:
        """Send one SMS and return RingCentral's message record (`messageStatus` starts as Queued).

        RingCentral has no idempotency key for SMS, so `idempotency_key` is the caller's ledger key: it goes into
        the log lines only. A 401 or 429 is retried here (nothing was sent); a 5xx or a timeout is raised as
        ServerError/NetworkError and means "maybe sent": only the ledger may decide to send again.
        """
        if not text:
            raise ValueError("an SMS needs text")
        if len(text.encode("utf-16-le")) // 2 > MAX_SMS_TEXT_UNITS:
            raise ValueError(f"SMS text is longer than {MAX_SMS_TEXT_UNITS} UTF-16 units")
        body = {"from": {"phoneNumber": from_number}, "to": [{"phoneNumber": to_number}], "text": text}
        operation = "createSMSMessage"
        response = await self._send(
            "POST",
            self.server_url + EXTENSION_PATH + "/sms",
            operation=operation,
            json=body,
        )
        message = self._json(response, operation)
        logger.info(
            "ringcentral: SMS accepted",
            extra={
                "idempotency_key": idempotency_key,
                "message_id": message.get("id"),
                "message_status": message.get("messageStatus"),
            },
        )
        return message

    # --- media -------------------------------------------------------------------------------------------

    async def get_media(self, uri: str) -> Media:
        """Download an attachment or a recording (`attachments[].uri`, `recording.contentUri`) from the media host."""
        url = self._own_url(uri, self.media_url)
        operation = "readCallRecordingContent" if "/recording/" in url else "readMessageContent"
        response = await self._send("GET", url, operation=operation, accept="*/*")
        content_type = response.headers.get("content-type", "application/octet-stream")
        return Media(content=response.content, content_type=content_type)

    def _own_url(self, uri: str, base: str) -> str:
        """An absolute URL on one of our configured hosts; the bearer token is never sent anywhere else."""
        if uri.startswith("/"):
            return base + uri
        for allowed in (self.media_url, self.server_url):
            if uri == allowed or uri.startswith(allowed + "/"):
                return uri
        raise Rejected("RingCentral returned a link outside the configured server and media hosts")

    # --- state --------------------------------------------------------------------------------------------

    async def authenticated(self) -> bool:
        """Whether a usable token is in the shared store (no request is made)."""
        token = await self.tokens.current()
        return token is not None and token.usable(self.tokens.clock())
