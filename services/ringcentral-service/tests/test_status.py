"""GET /api/ringcentral/status says whether RingCentral is configured and authenticated and how much rate budget
is left, never the token; in demo mode the service serves the simulator itself."""

from ringcentral_service.client import RingCentralClient
from ringcentral_service.pollers import client_for
from ringcentral_service.service import service
from ringcentral_service.settings import Settings
from ringcentral_service.tokens import read_token
from zaps.testing.apps import running


async def purge(redis, namespace):
    """Leave nothing behind in a real Redis the developer may share."""
    keys = [key async for key in redis.scan_iter(match=f"{namespace}:*")]
    if keys:
        await redis.delete(*keys)


CREDENTIALS = {
    "ringcentral_client_id": "sim-client-id",
    "ringcentral_client_secret": "sim-client-secret",
    "ringcentral_jwt": "sim-jwt-credential",
}


async def test_status_without_credentials_says_not_configured(make_settings):
    app = service.create_app(make_settings(Settings, run_worker=False))
    async with running(app) as http:
        status = (await http.get("/api/ringcentral/status")).json()

    assert status["configured"] is False
    assert status["authenticated"] is False
    assert status["mode"] == "live"
    assert status["rate_limits"] == {}
    assert set(status["streams"]) == {"calls", "messages"}
    assert status["streams"]["calls"]["last_poll_at"] is None  # the worker is off: nothing has polled


async def test_status_after_a_poll_shows_authentication_and_budgets_but_never_the_token(make_settings, sim):
    settings = make_settings(
        Settings,
        run_worker=False,
        ringcentral_server_url=sim.base_url,
        ringcentral_media_url=sim.base_url,
        **CREDENTIALS,
    )
    app = service.create_app(settings)
    async with running(app) as http:
        before = (await http.get("/api/ringcentral/status")).json()
        client = RingCentralClient.from_settings(settings, app.state.runtime.redis)
        await client.call_log_sync("FSync")
        token = await read_token(client.store)
        await client.aclose()
        answer = await http.get("/api/ringcentral/status")
        await purge(app.state.runtime.redis, client.store.namespace)

    status = answer.json()
    assert before["configured"] is True
    assert before["authenticated"] is False
    assert status["authenticated"] is True
    assert 3500 < status["token_expires_in_s"] <= 3600
    assert status["rate_limits"]["Heavy"]["limit"] == 10
    assert status["rate_limits"]["Heavy"]["remaining"] == 9
    assert status["rate_limits"]["Auth"]["remaining"] == 4
    assert status["rate_limits"]["Light"]["observed_s_ago"] is None
    assert token is not None
    for secret in (token.access_token, token.refresh_token, CREDENTIALS["ringcentral_client_secret"], "sim-jwt"):
        assert secret not in answer.text


async def test_demo_mode_serves_the_simulator_under_the_service_prefix(make_settings):
    settings = make_settings(Settings, run_worker=False, ringcentral_demo=True)
    app = service.create_app(settings)
    base = "/api/ringcentral/simulator"
    async with running(app) as http:
        added = await http.post(f"{base}/_sim/calls", json={"voicemail": True})
        # The service's own client: into the process, to the simulator the routes above serve.
        client = client_for(app.state.runtime)
        calls = await client.call_log_sync("FSync")
        status = (await http.get("/api/ringcentral/status")).json()
        seen = (await http.get(f"{base}/_sim/requests")).json()
        await purge(app.state.runtime.redis, client.store.namespace)

    assert added.status_code == 200
    (record,) = calls.records
    assert record["uri"].startswith(settings.demo_url + "/restapi/v1.0/account/")
    assert record["result"] == "Voicemail"
    assert status["mode"] == "demo"
    assert status["authenticated"] is True
    assert seen, "the client's requests reached the simulator the service serves"


async def test_without_demo_mode_the_simulator_paths_do_not_exist(make_settings):
    app = service.create_app(make_settings(Settings, run_worker=False, **CREDENTIALS))
    async with running(app) as http:
        control = await http.post("/api/ringcentral/simulator/_sim/calls", json={})
        token = await http.post(
            "/api/ringcentral/simulator/restapi/oauth/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "sim-jwt-credential"},
            auth=("sim-client-id", "sim-client-secret"),
        )

    assert control.status_code == 404
    assert token.status_code == 404
