"""The run page of a stuck run (active, with no job that will run it) says so and offers Replay, which works."""

from console_builders import HTML, PREFIX, add_automation, add_run, connect, page_token, sign_in
from zaps.testing.apps import running
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
