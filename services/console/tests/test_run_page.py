"""The run page of a stuck run (active, with no job that will run it) says so and offers Replay, which works and
wakes the workers; a run held for review offers send again and mark as done."""

from console_builders import HTML, PREFIX, add_automation, add_run, connect, page_token, sign_in
from zaps.engine.wakeup import channel
from zaps.testing.apps import running
from zaps.testing.wakeups import listening
from zaps_console.service import service


async def test_a_stuck_run_says_so_and_can_be_replayed(console_settings, database_url):
    add_automation(database_url, "shop.orders")
    run_id = add_run(database_url, "shop.orders", "running")  # as a failed finish leaves it: no job left
    async with running(service.create_app(console_settings())) as client:
        await sign_in(client)
        page = await client.get(f"{PREFIX}/runs/{run_id}", headers=HTML)
        token = await page_token(client, f"/runs/{run_id}")
        replay = await client.post(f"{PREFIX}/runs/{run_id}/replay", data={"csrf_token": token})
    assert "Stuck: no job will run it any more." in page.text
    assert "Replay this run" in page.text
    assert replay.headers["location"].endswith("notice=replayed")
    with connect(database_url) as conn:
        assert conn.execute("SELECT status FROM zaps_run WHERE id = %s", (run_id,)).fetchone() == {"status": "queued"}
        jobs = conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'todo'").fetchone()
    assert jobs == {"n": 1}


async def test_a_replay_from_the_console_wakes_the_workers_of_its_queue(console_settings, database_url):
    add_automation(database_url, "shop.orders")
    one, many = add_run(database_url, "shop.orders", "dead"), add_run(database_url, "shop.orders", "dead")
    async with (
        running(service.create_app(console_settings())) as client,
        listening(database_url, "shop.events") as wakeups,
    ):
        await sign_in(client)
        token = await page_token(client, f"/runs/{one}")
        replay = await client.post(f"{PREFIX}/runs/{one}/replay", data={"csrf_token": token})
        after_one = await wakeups.heard()
        bulk = await client.post(f"{PREFIX}/runs/replay", data={"csrf_token": token, "automation": "shop.orders"})
        after_bulk = await wakeups.heard()
    # The workers hear of the new job at once, instead of finding it at their next poll.
    assert replay.headers["location"].endswith("notice=replayed")
    assert after_one == [channel("shop.events")]
    assert "replayed=1" in bulk.headers["location"]
    assert after_bulk == [channel("shop.events")] * 2
    with connect(database_url) as conn:
        queued = conn.execute("SELECT id FROM zaps_run WHERE status = 'queued' ORDER BY id").fetchall()
    assert [row["id"] for row in queued] == [one, many]


def hold(database_url: str, automation: str) -> int:
    """A run held for review, as a worker leaves it: its step `notify` sent and unsure in the ledger."""
    run_id = add_run(database_url, automation, "needs_review", error="NeedsReview: step 'notify' is unsure")
    with connect(database_url) as conn:
        conn.execute(
            "INSERT INTO zaps_ledger (automation, event_id, step, idempotency_key, status) "
            "SELECT automation, event_id, 'notify', automation || '/' || event_id || '/notify', 'unsure' "
            "FROM zaps_run WHERE id = %s",
            (run_id,),
        )
    return run_id


async def test_a_run_that_needs_review_offers_send_again_and_mark_as_done(console_settings, database_url):
    add_automation(database_url, "shop.orders")
    again, done = hold(database_url, "shop.orders"), hold(database_url, "shop.orders")
    async with running(service.create_app(console_settings())) as client:
        await sign_in(client)
        listed = await client.get(f"{PREFIX}/runs", params={"status": "needs_review"}, headers=HTML)
        page = await client.get(f"{PREFIX}/runs/{again}", headers=HTML)
        token = await page_token(client, f"/runs/{again}")
        sent = await client.post(f"{PREFIX}/runs/{again}/send-again", data={"csrf_token": token})
        marked = await client.post(f"{PREFIX}/runs/{done}/mark-done", data={"csrf_token": token})
        twice = await client.post(f"{PREFIX}/runs/{done}/mark-done", data={"csrf_token": token})
    assert f"/runs/{again}" in listed.text and f"/runs/{done}" in listed.text
    assert "Needs review" in page.text and "Send again" in page.text and "Mark as done" in page.text
    assert sent.headers["location"].endswith("notice=send-again")
    assert marked.headers["location"].endswith("notice=mark-done")
    assert twice.headers["location"].endswith("notice=not-held")
    with connect(database_url) as conn:
        ledger = conn.execute(
            "SELECT r.id, l.status, l.resolution FROM zaps_ledger l JOIN zaps_run r "
            "ON r.automation = l.automation AND r.event_id = l.event_id ORDER BY r.id"
        ).fetchall()
        statuses = conn.execute("SELECT status FROM zaps_run ORDER BY id").fetchall()
    assert [(row["id"], row["status"]) for row in ledger] == [(again, "not_done"), (done, "succeeded")]
    assert [row["resolution"].split(" (")[0] for row in ledger] == ["send again by console", "mark done by console"]
    assert statuses == [{"status": "queued"}, {"status": "queued"}]


async def test_the_logs_link_goes_to_grafana_only_where_grafana_is_configured(console_settings, database_url):
    add_automation(database_url, "shop.orders")
    run_id = add_run(database_url, "shop.orders", "succeeded")
    pages = {}
    for grafana in (None, "https://zaps.example.com/grafana/"):
        async with running(service.create_app(console_settings(console_grafana_url=grafana))) as client:
            await sign_in(client)
            pages[grafana] = (await client.get(f"{PREFIX}/runs/{run_id}", headers=HTML)).text

    assert "Logs in Grafana" not in pages[None]  # `make dev` runs no Grafana: no link to one
    assert "No Grafana is configured (CONSOLE_GRAFANA_URL)" in pages[None]
    assert "Logs in Grafana" in pages["https://zaps.example.com/grafana/"]
    assert 'href="https://zaps.example.com/grafana/explore?' in pages["https://zaps.example.com/grafana/"]
