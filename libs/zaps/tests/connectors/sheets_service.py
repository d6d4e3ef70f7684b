"""A small service for the Google Sheets tests: a signed webhook in, a row out, with fast retries."""

from datetime import timedelta

from pydantic import SecretStr
from zaps import Retry, Run, Service, ZapsSettings, webhook
from zaps.connectors.sheets import GoogleSheets, append_row, upsert_row

FAST = Retry.exponential(attempts=4, first=timedelta(seconds=0.05), cap=timedelta(seconds=0.3))


class SheetsSettings(ZapsSettings):
    service_name: str = "sheetstest"
    path_prefix: str = "/api/sheetstest"
    hook_secret: SecretStr = SecretStr("hook-secret-0123456789")


service = Service(SheetsSettings)


@service.automation(webhook(secret_setting="hook_secret"), retry=FAST, uses=[GoogleSheets])
async def upsert_call(run: Run[SheetsSettings]) -> None:
    call = run.event.payload
    row = {"Call id": call["id"], "From": call["from"], "Status": call["status"]}
    await upsert_row(run, "sheet", spreadsheet_id=call["sheet"], sheet="Calls", key_column="Call id", row=row)


@service.automation(webhook(secret_setting="hook_secret"), retry=FAST, uses=[GoogleSheets])
async def append_call(run: Run[SheetsSettings]) -> None:
    call = run.event.payload
    values = [call["id"], call["from"], call["status"]]
    await append_row(run, "sheet", spreadsheet_id=call["sheet"], sheet="Calls", values=values)


@service.automation(webhook(secret_setting="hook_secret"), retry=FAST, uses=[GoogleSheets])
async def append_keyed(run: Run[SheetsSettings]) -> None:
    call = run.event.payload
    values = [call["id"], call["from"], call["status"]]
    await append_row(run, "sheet", spreadsheet_id=call["sheet"], sheet="Calls", values=values, key_column="Call id")
