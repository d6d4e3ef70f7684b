"""The Google Sheets REST calls a step needs (API v4, spreadsheets.values), and what their failures mean to a run.

    spreadsheets.get GET  /v4/spreadsheets/{id}?fields=…                      -> Spreadsheet (title, tabs)
    values:batchGet  GET  /v4/spreadsheets/{id}/values:batchGet?ranges=…      -> {"valueRanges": [ValueRange, …]}
    values.append    POST /v4/spreadsheets/{id}/values/{range}:append?…     body ValueRange -> AppendValuesResponse
    values.update    PUT  /v4/spreadsheets/{id}/values/{range}?…            body ValueRange -> UpdateValuesResponse

Errors come as {"error": {"code", "message", "status"}}: 429 and 5xx retry (Retry-After honoured), 401 is a
refused token, 403 a sheet not shared with the service account (or the API not enabled), 404 a wrong spreadsheet
id, 400 a bad range (most often a tab name that does not exist); those four end the run.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from zaps.actions.http import NOT_SENT, USER_AGENT
from zaps.connectors.google_token import ServiceAccountToken
from zaps.retry import PermanentError, RetryableError, UnsureError, parse_retry_after

Cell = str | int | float | bool | None
Params = list[tuple[str, str | int | float | bool | None]]


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (A1 notation)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def a1(sheet: str, cells: str = "") -> str:
    """A range on the tab `sheet`, its name always quoted ('My calls'!A:A), so spaces and digits need no care."""
    quoted = "'" + sheet.replace("'", "''") + "'"
    return f"{quoted}!{cells}" if cells else quoted


def row_of(updated_range: str) -> int | None:
    """The first row number of an answered range ("Calls!A7:D7" -> 7)."""
    found = re.search(r"![A-Z]*(\d+)", updated_range)
    return int(found.group(1)) if found else None


class SheetsApi:
    def __init__(self, *, base_url: str, token: ServiceAccountToken, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.client = httpx.AsyncClient(timeout=timeout_s, headers={"user-agent": USER_AGENT})

    async def batch_get(self, spreadsheet_id: str, ranges: Sequence[str]) -> list[list[list[Any]]]:
        """The values of each range, row by row (trailing empty rows and cells left out, as Google answers)."""
        params: Params = [("ranges", r) for r in ranges]
        answer = await self._call("GET", spreadsheet_id, "/values:batchGet", params=params, write=False)
        return [list(found.get("values", [])) for found in answer.get("valueRanges", [])]

    async def metadata(self, spreadsheet_id: str) -> Any:
        """The spreadsheet's title and its tabs' titles (spreadsheets.get with a field mask): a read that changes
        nothing, for `zaps connections check`."""
        params: Params = [("fields", "spreadsheetId,properties.title,sheets.properties.title")]
        return await self._call("GET", spreadsheet_id, "", params=params, write=False)

    async def append(self, spreadsheet_id: str, range_: str, rows: list[list[Cell]], value_input: str) -> Any:
        # INSERT_ROWS: the row goes in as a new row after the table, never over cells below it.
        params: Params = [("valueInputOption", value_input), ("insertDataOption", "INSERT_ROWS")]
        body = {"range": range_, "majorDimension": "ROWS", "values": rows}
        path = f"/values/{quote(range_, safe='')}:append"
        return await self._call("POST", spreadsheet_id, path, params=params, json=body, write=True)

    async def update(self, spreadsheet_id: str, range_: str, rows: list[list[Cell]], value_input: str) -> Any:
        # A null cell is left as it is (documented for ValueRange input): only the columns given change.
        body = {"range": range_, "majorDimension": "ROWS", "values": rows}
        path = f"/values/{quote(range_, safe='')}"
        params: Params = [("valueInputOption", value_input)]
        return await self._call("PUT", spreadsheet_id, path, params=params, json=body, write=True)

    async def _call(
        self,
        method: str,
        spreadsheet_id: str,
        path: str,
        *,
        params: Params,
        json: Any = None,
        write: bool,
    ) -> Any:
        url = f"{self.base_url}/v4/spreadsheets/{quote(spreadsheet_id, safe='')}{path}"
        for first in (True, False):
            headers = {"authorization": f"Bearer {await self.token.get()}"}
            try:
                response = await self.client.request(method, url, params=params, json=json, headers=headers)
            except NOT_SENT as error:
                raise RetryableError(f"Google Sheets unreachable: {type(error).__name__}") from None
            except httpx.TransportError as error:
                what = f"Google Sheets did not answer: {type(error).__name__}"
                # Only a write that may have arrived is unsure; a read changed nothing and is simply tried again.
                raise (UnsureError(what + " after the write was sent") if write else RetryableError(what)) from None
            if response.status_code == 401 and first:
                # A token Google no longer takes (revoked, expired early): one new token, one more try.
                self.token.forget()
                continue
            return self._answer(response, spreadsheet_id)
        raise AssertionError("unreachable")

    def _answer(self, response: httpx.Response, spreadsheet_id: str) -> Any:
        status = response.status_code
        if status < 400:
            return response.json()
        message = ""
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            message = str(response.json()["error"]["message"])[:300]
        said = f"Google Sheets answered {status}" + (f" ({message})" if message else "")
        if status == 429 or status >= 500:
            raise RetryableError(said, retry_after=parse_retry_after(response.headers.get("retry-after")))
        email = self.token.client_email
        if status == 401:
            raise PermanentError(f"{said}: the access token of {email} was refused; is the key disabled?")
        if status == 403:
            raise PermanentError(
                f"{said}: share spreadsheet {spreadsheet_id} with the service account {email} as an Editor, and "
                "check that the Google Sheets API is enabled in the account's project"
            )
        if status == 404:
            raise PermanentError(
                f"{said}: no spreadsheet {spreadsheet_id}; check the id (the part of its URL after /d/)"
            )
        if status == 400 and "parse range" in message:
            raise PermanentError(f"{said}: does the spreadsheet have a tab of that name?")
        raise PermanentError(said)

    async def aclose(self) -> None:
        await self.client.aclose()
