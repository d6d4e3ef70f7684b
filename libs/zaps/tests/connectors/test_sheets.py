"""Google Sheets through a real service and worker, against a fake Google that checks the service account's signed
grant and its bearer tokens: rows appended and upserted once per event, whatever retries, replays and timeouts do."""

import asyncio
import json

import pytest
from sheets_helpers import HEADER, SHEET_ID, query
from sheets_service import service
from zaps import signing
from zaps.declarations import DeclarationError
from zaps.engine import repository
from zaps.testing.apps import running
from zaps.testing.waiting import eventually

PREFIX = "/api/sheetstest"
SECRET = "hook-secret-0123456789"
SETTLED = ("succeeded", "dead", "needs_review")


async def post(client, automation, payload):
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", **signing.sign(SECRET, body)}
    answer = await client.post(f"{PREFIX}/hooks/{automation}", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer


def call(call_id, status="missed", *, sheet=SHEET_ID, caller="+15550100"):
    return {"id": call_id, "from": caller, "status": status, "sheet": sheet}


async def settled(database_url, automation, count=1):
    return await eventually(
        lambda: asyncio.to_thread(
            query, database_url, "SELECT * FROM zaps_run WHERE automation = %s ORDER BY id", f"sheetstest.{automation}"
        ),
        lambda runs: len(runs) == count and all(r["status"] in SETTLED for r in runs),
        timeout=30,
    )


def steps_of(database_url, run_id):
    rows = query(database_url, "SELECT status, error FROM zaps_step WHERE run_id = %s ORDER BY id", run_id)
    return [r["status"] for r in rows], [r["error"] for r in rows]


async def test_append_and_upsert_write_rows_with_a_token_from_the_signed_grant(
    sheets_settings, database_url, google, account
):
    app = service.create_app(sheets_settings())
    async with running(app) as client:
        await post(client, "append-call", call("c-1"))
        await post(client, "upsert-call", call("c-2"))
        (appended,) = await settled(database_url, "append-call")
        (upserted,) = await settled(database_url, "upsert-call")
        await post(client, "upsert-call", call("c-2", "answered"))  # a later event for the same call
        await settled(database_url, "upsert-call", count=2)
    assert (appended["status"], upserted["status"]) == ("succeeded", "succeeded")
    assert google.rows(SHEET_ID, "Calls") == [HEADER, ["c-1", "+15550100", "missed"], ["c-2", "+15550100", "answered"]]
    assert google.token_requests == 1  # one token, kept for every call after
    appends = [c for c in google.writes() if c.path.endswith(":append")]
    assert all(c.query["insertDataOption"] == ["INSERT_ROWS"] for c in appends)
    assert all(c.query["valueInputOption"] == ["USER_ENTERED"] for c in google.writes())
    (updated,) = [c for c in google.writes() if c.method == "PUT"]
    assert updated.path.endswith("/values/'Calls'!A3:C3")


async def test_a_503_is_retried_and_the_row_written_once(sheets_settings, database_url, google, account):
    google.fail(503, writes_only=True)
    google.fail(429, retry_after="0")
    app = service.create_app(sheets_settings())
    async with running(app) as client:
        await post(client, "upsert-call", call("c-3"))
        (run,) = await settled(database_url, "upsert-call")
    assert run["status"] == "succeeded" and run["attempts"] == 3
    assert google.rows(SHEET_ID, "Calls") == [HEADER, ["c-3", "+15550100", "missed"]]
    statuses, errors = steps_of(database_url, run["id"])
    assert statuses == ["failed", "failed", "succeeded"]
    assert "Google Sheets answered 429" in errors[0] and "Google Sheets answered 503" in errors[1]


async def test_a_replayed_run_and_a_repeated_event_never_write_a_row_twice(
    sheets_settings, database_url, google, account
):
    app = service.create_app(sheets_settings())
    async with running(app) as client:
        await post(client, "upsert-call", call("c-4"))
        (run,) = await settled(database_url, "upsert-call")
        writes = len(google.writes())
        async with app.state.runtime.database.connection() as conn:
            await repository.replay(conn, [run["id"]])
        await eventually(
            lambda: asyncio.to_thread(steps_of, database_url, run["id"]),
            lambda found: found[0] == ["succeeded", "reused"],
        )
        # Another event for the same call (a poller that saw it twice, a resent webhook): found by its key.
        await post(client, "upsert-call", call("c-4", "answered"))
        await settled(database_url, "upsert-call", count=2)
    assert len(google.writes()) == writes + 1  # the replay wrote nothing; the second event updated in place
    assert google.rows(SHEET_ID, "Calls") == [HEADER, ["c-4", "+15550100", "answered"]]


async def test_a_long_digit_key_is_kept_as_text_and_found_again(sheets_settings, database_url, google, account):
    app = service.create_app(sheets_settings())
    async with running(app) as client:
        await post(client, "upsert-call", call("123456789012345678", "missed"))
        await settled(database_url, "upsert-call")
        await post(client, "upsert-call", call("123456789012345678", "answered"))
        await settled(database_url, "upsert-call", count=2)
    # Typed in as a number it would show as 1.23457E+17, and the second event would append a second row.
    assert google.rows(SHEET_ID, "Calls") == [HEADER, ["123456789012345678", "+15550100", "answered"]]


async def test_two_runs_upserting_one_key_at_once_write_one_row(sheets_settings, database_url, google, account):
    google.latency_s = 0.2  # without the lock both would read "no such row" before either writes
    app = service.create_app(sheets_settings(worker_concurrency=4))
    async with running(app) as client:
        await post(client, "upsert-call", call("c-12", "missed"))
        await post(client, "upsert-call", call("c-12", "answered"))
        runs = await settled(database_url, "upsert-call", count=2)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    rows = google.rows(SHEET_ID, "Calls")
    assert len(rows) == 2 and rows[1][0] == "c-12"


@pytest.mark.parametrize("automation", ["upsert-call", "append-keyed"])
async def test_a_write_applied_but_answered_by_a_timeout_is_checked_not_written_again(
    sheets_settings, database_url, google, account, automation
):
    google.stall_after_write(2.0)  # longer than the connector's timeout (0.5 s)
    app = service.create_app(sheets_settings())
    async with running(app) as client:
        await post(client, automation, call("c-5"))
        (run,) = await settled(database_url, automation)
    assert run["status"] == "succeeded"
    assert len(google.writes()) == 1
    assert google.rows(SHEET_ID, "Calls") == [HEADER, ["c-5", "+15550100", "missed"]]
    (entry,) = query(database_url, "SELECT status, resolution, output FROM zaps_ledger WHERE step = 'sheet'")
    assert (entry["status"], entry["resolution"]) == ("succeeded", "checked: done")
    assert entry["output"] == {"action": "found", "row": 2}
    assert steps_of(database_url, run["id"])[0] == ["unsure", "verified"]


async def test_an_append_without_a_key_that_timed_out_is_held_for_review(
    sheets_settings, database_url, google, account
):
    google.stall_after_write(2.0)
    app = service.create_app(sheets_settings())
    async with running(app) as client:
        await post(client, "append-call", call("c-6"))
        (run,) = await settled(database_url, "append-call")
    assert run["status"] == "needs_review"
    assert len(google.writes()) == 1  # held: not written again on a guess


async def test_a_sheet_not_shared_with_the_account_goes_dead_saying_so(sheets_settings, database_url, google, account):
    google.spreadsheet("1not-shared", {"Calls": [list(HEADER)]}, shared_with=["someone@example.com"])
    app = service.create_app(sheets_settings())
    async with running(app) as client:
        await post(client, "upsert-call", call("c-7", sheet="1not-shared"))
        await post(client, "append-call", call("c-8", sheet="1no-such-sheet"))
        (unshared,) = await settled(database_url, "upsert-call")
        (missing,) = await settled(database_url, "append-call")
    assert (unshared["status"], unshared["attempts"]) == ("dead", 1)
    assert "403" in unshared["error"]
    assert f"share spreadsheet 1not-shared with the service account {account.client_email}" in unshared["error"]
    assert (missing["status"], missing["attempts"]) == ("dead", 1)
    assert "404" in missing["error"] and "no spreadsheet 1no-such-sheet" in missing["error"]


async def test_a_key_google_does_not_know_goes_dead_with_a_clear_error(
    sheets_settings, database_url, google, account, monkeypatch
):
    stranger = google.service_account("deleted@zaps-test.iam.gserviceaccount.com")
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_JSON", stranger.key_json())
    del google.accounts[stranger.client_email]  # the key was deleted in the Cloud console
    app = service.create_app(sheets_settings())
    async with running(app) as client:
        await post(client, "upsert-call", call("c-9"))
        (run,) = await settled(database_url, "upsert-call")
    assert (run["status"], run["attempts"]) == ("dead", 1)
    assert "Google refused the service account key of deleted@zaps-test" in run["error"]
    assert "invalid_grant" in run["error"]
    assert google.writes() == []


async def test_a_token_google_no_longer_takes_is_replaced_once(sheets_settings, database_url, google, account):
    app = service.create_app(sheets_settings())
    async with running(app) as client:
        await post(client, "upsert-call", call("c-13"))
        await settled(database_url, "upsert-call")
        google.tokens.clear()  # revoked: the next call answers 401
        await post(client, "upsert-call", call("c-14"))
        runs = await settled(database_url, "upsert-call", count=2)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"] and runs[1]["attempts"] == 1
    assert google.token_requests == 2
    assert [row[0] for row in google.rows(SHEET_ID, "Calls")[1:]] == ["c-13", "c-14"]


def test_a_missing_key_stops_the_start_naming_the_variable(sheets_settings, monkeypatch):
    monkeypatch.delenv("GOOGLE_SERVICE_ACCOUNT_JSON", raising=False)
    with pytest.raises(DeclarationError) as stopped:
        service.create_app(sheets_settings())
    assert "uses Google Sheets: GOOGLE_SERVICE_ACCOUNT_JSON is not set" in str(stopped.value)


@pytest.mark.parametrize(
    "key",
    [
        '{"type": "authorized_user", "refresh_token": "rt-4711"}',
        '{"type": "service_account", "client_email": "a@b.c", "token_uri": "https://t", "private_key": "rt-4711"}',
        "rt-4711 is not JSON",
    ],
)
def test_a_key_that_is_not_a_key_stops_the_start_without_quoting_it(sheets_settings, monkeypatch, key):
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_JSON", key)
    with pytest.raises(DeclarationError) as stopped:
        service.create_app(sheets_settings())
    assert "GOOGLE_SERVICE_ACCOUNT_JSON is invalid" in str(stopped.value)
    assert "rt-4711" not in str(stopped.value)


async def test_the_private_key_and_the_token_never_reach_logs_or_run_records(
    sheets_settings, database_url, google, account, capfd
):
    google.fail(503, writes_only=True)
    google.spreadsheet("1not-shared", {"Calls": [list(HEADER)]}, shared_with=[])
    app = service.create_app(sheets_settings(log_level="DEBUG"))
    async with running(app) as client:
        await post(client, "upsert-call", call("c-10"))
        await post(client, "append-call", call("c-11", sheet="1not-shared"))
        await settled(database_url, "upsert-call")
        await settled(database_url, "append-call")
    said = capfd.readouterr()
    records = query(
        database_url,
        "SELECT (SELECT json_agg(r)::text FROM zaps_run r) AS runs, (SELECT json_agg(s)::text FROM zaps_step s) "
        "AS steps, (SELECT json_agg(l)::text FROM zaps_ledger l) AS ledger",
    )[0]
    body = "".join(account.private_key_pem.splitlines()[1:-1])
    secrets = [body[i : i + 40] for i in range(0, len(body) - 40, 200)] + list(google.tokens)
    assert google.tokens  # the runs did get a token
    for text in (said.out, said.err, *records.values()):
        assert [s for s in secrets if s in text] == []
