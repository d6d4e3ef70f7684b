"""Bad input to the console's pages (a NUL character, a window reaching before the year 1) is a 4xx naming the
field, never a 500, signed in, against the app in-process (real PostgreSQL)."""

from console_builders import HTML, PREFIX, add_automation, page_token, sign_in
from zaps.testing.apps import running
from zaps_console.service import service


async def test_bad_filters_and_names_are_refused_naming_the_field(console_settings, database_url):
    add_automation(database_url, "shop.orders")
    async with running(service.create_app(console_settings())) as client:
        await sign_in(client)
        token = await page_token(client)
        answers = {
            "automation": await client.get(f"{PREFIX}/runs", params={"automation": "shop\x00"}, headers=HTML),
            "since": await client.get(f"{PREFIX}/runs", params={"since": "999999999d"}, headers=HTML),
            "status": await client.get(f"{PREFIX}/runs", params={"status": "dead\x00"}, headers=HTML),
            "from": await client.get(f"{PREFIX}/runs/replay", params={"from": "\x00"}, headers=HTML),
            " from": await client.get(
                f"{PREFIX}/runs/replay", params={"from": "0001-01-01T00:00:00+14:00"}, headers=HTML
            ),
            " until": await client.get(
                f"{PREFIX}/runs/replay", params={"until": "9999-12-31T23:59:59-14:00"}, headers=HTML
            ),
            "  since": await client.get(
                f"{PREFIX}/runs/replay", params={"since": "0001-01-01T00:00:00+14:00"}, headers=HTML
            ),
            "automation ": await client.post(
                f"{PREFIX}/runs/replay", data={"automation": "\x00", "csrf_token": token}, headers=HTML
            ),
            "since ": await client.post(
                f"{PREFIX}/runs/replay", data={"since": "99999999999w", "csrf_token": token}, headers=HTML
            ),
        }
        paused = await client.post(f"{PREFIX}/automations/shop%00/pause", data={"csrf_token": token}, headers=HTML)

    for field, answer in answers.items():
        assert answer.status_code == 400, (field, answer.status_code)
        assert f"{field.strip()}:" in answer.text, field
    assert paused.status_code == 404
