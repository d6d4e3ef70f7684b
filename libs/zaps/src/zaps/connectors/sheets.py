"""Google Sheets: append a row, or upsert one by a key column, as steps that a retry or a replay never doubles.

    @service.automation(webhook(secret_setting="calls_secret"), uses=[GoogleSheets])
    async def log_call(run: Run[Settings]) -> None:
        await upsert_row(run, "sheet", spreadsheet_id="1AbC…", sheet="Calls", key_column="Call id",
                         row={"Call id": run.event.key, "From": run.event.payload["from"]})

The sheet's first row names its columns. Credentials: a service account's JSON key (GOOGLE_SERVICE_ACCOUNT_JSON),
with the spreadsheet shared with the account's e-mail address. See docs/connectors.md, "Google Sheets".

When a write may have happened (it timed out after being sent), the step's rule decides (zaps.engine.run):
- `upsert_row` checks: it reads the key column; a row holding the key and the values is the write done;
- `append_row` with a `key_column` checks the same way;
- `append_row` without one holds the run for a person: a row has nothing to tell it from an equal row written by
  another event, so reading the sheet cannot say whether ours arrived, and writing again may double it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from pydantic import SecretStr, field_validator

from zaps.connectors import sheets_repository
from zaps.connectors.base import ConnectorSettings, connector, load_settings
from zaps.connectors.google_token import BadKey, ServiceAccountToken, parse_key
from zaps.connectors.sheets_api import Cell, SheetsApi, a1, column_letter, row_of
from zaps.engine.run import OnUnsure
from zaps.logging import redactor
from zaps.retry import PermanentError

if TYPE_CHECKING:
    from zaps.engine.run import Run

SCOPE = "https://www.googleapis.com/auth/spreadsheets"
ValueInput = Literal["USER_ENTERED", "RAW"]


class GoogleSheetsSettings(ConnectorSettings):
    google_service_account_json: SecretStr  # the key file's whole JSON text
    google_sheets_api_url: str = "https://sheets.googleapis.com"
    google_token_uri: str | None = None  # instead of the key's own token_uri (a test's fake, a proxy)
    google_sheets_timeout_s: float = 20.0
    # Read (never written) by `zaps connections check`, to prove the spreadsheet is shared with the account.
    google_sheets_check_spreadsheet_id: str | None = None

    @field_validator("google_service_account_json")
    @classmethod
    def _a_key(cls, value: SecretStr) -> SecretStr:
        try:
            parse_key(value.get_secret_value())
        except BadKey as error:
            raise ValueError(str(error)) from None
        return value


class GoogleSheets:
    name: ClassVar[str] = "Google Sheets"
    settings_class: ClassVar[type[ConnectorSettings]] = GoogleSheetsSettings

    def __init__(self, settings: GoogleSheetsSettings) -> None:
        info = parse_key(settings.google_service_account_json.get_secret_value())
        # The private key alone may show up in an error or a dump without the JSON around it: redact it too.
        redactor.add([info["private_key"], info["private_key"].strip()])
        self.token = ServiceAccountToken(
            info, scopes=[SCOPE], token_uri=settings.google_token_uri, timeout_s=settings.google_sheets_timeout_s
        )
        self.api = SheetsApi(
            base_url=settings.google_sheets_api_url, token=self.token, timeout_s=settings.google_sheets_timeout_s
        )

    @classmethod
    def from_environment(cls) -> Self:
        return cls(load_settings(GoogleSheetsSettings, cls.name))

    async def aclose(self) -> None:
        await self.api.aclose()
        self.token.close()

    async def header_and_column(
        self, spreadsheet_id: str, sheet: str, key_column: str
    ) -> tuple[list[str], int, list[str]]:
        """The header row, the key column's index in it, and that column's values from row 1 down (two reads: the
        column's letter comes from the header)."""
        (header_rows,) = await self.api.batch_get(spreadsheet_id, [a1(sheet, "1:1")])
        header = [str(cell) for cell in (header_rows[0] if header_rows else [])]
        if key_column not in header:
            raise PermanentError(f"the first row of tab {sheet!r} has no column {key_column!r} (it has {header})")
        letter = column_letter(header.index(key_column))
        (column,) = await self.api.batch_get(spreadsheet_id, [a1(sheet, f"{letter}:{letter}")])
        return header, header.index(key_column), [str(row[0]) if row else "" for row in column]

    async def find(self, spreadsheet_id: str, sheet: str, key_column: str, key: str) -> tuple[list[str], int | None]:
        """The header row, and the number of the first row below it whose key column holds `key` (or None)."""
        header, _, column = await self.header_and_column(spreadsheet_id, sheet, key_column)
        for number, value in enumerate(column[1:], start=2):
            if value == key:
                return header, number
        return header, None

    async def row_values(self, spreadsheet_id: str, sheet: str, number: int) -> list[Any]:
        (rows,) = await self.api.batch_get(spreadsheet_id, [a1(sheet, f"{number}:{number}")])
        return list(rows[0]) if rows else []


def as_shown(value: Cell) -> str:
    """A cell as Google shows it back (its formatted value), to compare what we wrote with what is there."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def lay_out(header: list[str], row: Mapping[str, Cell], sheet: str) -> list[Cell]:
    """`row` in the header's column order; a column not named stays as it is (null), an unknown name stops."""
    unknown = [name for name in row if name not in header]
    if unknown:
        raise PermanentError(f"tab {sheet!r} has no column {unknown} in its first row (it has {header})")
    width = max(header.index(name) for name in row) + 1 if row else 0
    return [row.get(name) for name in header[:width]]


@asynccontextmanager
async def one_writer(run: Run[Any], spreadsheet_id: str, sheet: str, key: str) -> AsyncIterator[None]:
    """Two runs upserting one key at the same moment (a call.missed and a call.completed rule writing one sheet)
    would both find no row and both append: the second waits here, on a database lock, until the first has written.
    Sheets has no conditional write to do this for us."""
    async with run.runtime.database.transaction() as conn:
        name = f"zaps.sheets:{spreadsheet_id}:{sheet}:{key}"
        await sheets_repository.lock_row_key(conn, name)
        yield


async def upsert_row(
    run: Run[Any],
    step: str,
    *,
    spreadsheet_id: str,
    sheet: str,
    key_column: str,
    row: Mapping[str, Cell],
    value_input: ValueInput = "USER_ENTERED",
    on_unsure: OnUnsure = "check",
) -> dict[str, Any]:
    """Update the row whose `key_column` holds `row[key_column]`, or append one: once per event, never twice."""
    if row.get(key_column) in (None, ""):
        raise PermanentError(f"step {step!r}: the row has no value for its key column {key_column!r}")
    key = as_shown(row[key_column])
    sheets = connector(run.runtime, GoogleSheets)

    async def write(_: str) -> dict[str, Any]:
        async with one_writer(run, spreadsheet_id, sheet, key):
            header, number = await sheets.find(spreadsheet_id, sheet, key_column, key)
            cells = lay_out(header, row, sheet)
            if value_input == "USER_ENTERED":
                # The key goes in as text (a leading ' does that when typed): a long digit id would otherwise
                # become a number shown as 1.23457E+17, and no later lookup would find it.
                cells[header.index(key_column)] = "'" + key
            if number is None:
                answer = await sheets.api.append(spreadsheet_id, a1(sheet, "A1"), [cells], value_input)
                updated = str(answer.get("updates", {}).get("updatedRange", ""))
                return {"action": "appended", "row": row_of(updated), "range": updated}
            target = a1(sheet, f"A{number}:{column_letter(len(cells) - 1)}{number}")
            answer = await sheets.api.update(spreadsheet_id, target, [cells], value_input)
            updated = str(answer.get("updatedRange", target))
            return {"action": "updated", "row": number, "range": updated}

    async def verify(_: str) -> dict[str, Any] | None:
        # Done only if the key's row holds every value we meant to write; anything less is written again,
        # which is harmless here: the write finds the row and updates it.
        header, number = await sheets.find(spreadsheet_id, sheet, key_column, key)
        if number is None:
            return None
        there = await sheets.row_values(spreadsheet_id, sheet, number)
        wanted = lay_out(header, row, sheet)
        for index, value in enumerate(wanted):
            shown = as_shown(there[index]) if index < len(there) else ""
            if value is not None and shown != as_shown(value):
                return None
        return {"action": "found", "row": number}

    described = {"spreadsheet_id": spreadsheet_id, "sheet": sheet, "key_column": key_column, "row": dict(row)}
    return await run.step(step, write, input=described, on_unsure=on_unsure, verify=verify)


async def append_row(
    run: Run[Any],
    step: str,
    *,
    spreadsheet_id: str,
    sheet: str,
    values: Sequence[Cell],
    key_column: str | None = None,
    value_input: ValueInput = "USER_ENTERED",
    on_unsure: OnUnsure | None = None,
) -> dict[str, Any]:
    """Append `values` (columns A, B, … in order) as a new row after the tab's table, once per event.

    With `key_column` (a name in the header row), an unsure write is checked: the sheet is read for this row's
    value in that column. Without one it is held for review (see the module's docstring); `on_unsure` overrides.
    """
    sheets = connector(run.runtime, GoogleSheets)
    cells = list(values)

    async def write(_: str) -> dict[str, Any]:
        answer = await sheets.api.append(spreadsheet_id, a1(sheet, "A1"), [cells], value_input)
        updated = str(answer.get("updates", {}).get("updatedRange", ""))
        return {"action": "appended", "row": row_of(updated), "range": updated}

    async def verify(_: str) -> dict[str, Any] | None:
        assert key_column is not None
        _header, index, column = await sheets.header_and_column(spreadsheet_id, sheet, key_column)
        if index >= len(cells) or cells[index] in (None, ""):
            raise PermanentError(f"step {step!r}: the row has no value in its key column {key_column!r}")
        key = as_shown(cells[index])
        for number, value in enumerate(column[1:], start=2):
            if value == key:
                return {"action": "found", "row": number}
        return None

    rule: OnUnsure = on_unsure or ("check" if key_column else "hold")
    described = {"spreadsheet_id": spreadsheet_id, "sheet": sheet, "values": cells}
    return await run.step(step, write, input=described, on_unsure=rule, verify=verify if key_column else None)
