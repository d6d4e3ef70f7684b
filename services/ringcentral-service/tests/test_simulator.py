"""The simulator behaves as RingCentral does where the client tests do not reach: raw token grants, strict bearer
scheme, the penalty that restarts on every request, and a control API that refuses what it does not know."""

import asyncio

import httpx

BASIC = ("sim-client-id", "sim-client-secret")
JWT_FORM = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "sim-jwt-credential"}
SYNC = "/restapi/v1.0/account/~/extension/~/call-log-sync"


async def login(http):
    response = await http.post("/restapi/oauth/token", data=JWT_FORM, auth=BASIC)
    assert response.status_code == 200, response.text
    return response.json()


async def test_refresh_tokens_are_single_use_and_a_refresh_kills_the_old_access_token(sim):
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        first = await login(http)
        refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}

        renewed = await http.post("/restapi/oauth/token", data=refresh, auth=BASIC)
        reused = await http.post("/restapi/oauth/token", data=refresh, auth=BASIC)
        old = await http.get(
            SYNC, params={"recordCount": 1}, headers={"Authorization": f"Bearer {first['access_token']}"}
        )
        new = await http.get(
            SYNC, params={"recordCount": 1}, headers={"Authorization": f"Bearer {renewed.json()['access_token']}"}
        )

    assert first["token_type"] == "bearer"  # lower case, as RingCentral answers; clients must still send "Bearer"
    assert renewed.status_code == 200
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert old.status_code == 401
    assert new.status_code == 200


async def test_a_lower_case_bearer_scheme_is_refused(sim):
    sim.off_contract()
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        token = (await login(http))["access_token"]
        response = await http.get(SYNC, params={"recordCount": 1}, headers={"Authorization": f"bearer {token}"})

    assert response.status_code == 401


async def test_every_request_during_a_penalty_starts_it_again(sim):
    await sim.rate_limit("Heavy", limit=1, window_s=60, penalty_s=0.3)
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        headers = {"Authorization": f"Bearer {(await login(http))['access_token']}"}
        ok = await http.get(SYNC, params={"recordCount": 1}, headers=headers)
        spent = await http.get(SYNC, params={"recordCount": 1}, headers=headers)
        await asyncio.sleep(0.2)
        early = await http.get(SYNC, params={"recordCount": 1}, headers=headers)  # restarts the 0.3 s penalty
        await asyncio.sleep(0.2)
        still = await http.get(SYNC, params={"recordCount": 1}, headers=headers)  # 0.4 s after `spent`, yet 429

    assert ok.headers["X-Rate-Limit-Group"] == "Heavy"
    assert (ok.headers["X-Rate-Limit-Limit"], ok.headers["X-Rate-Limit-Remaining"]) == ("1", "0")
    assert ok.headers["X-Rate-Limit-Window"] == "60"
    assert [spent.status_code, early.status_code, still.status_code] == [429, 429, 429]
    assert spent.headers["Retry-After"] == "0.3"
    assert spent.json()["errors"][0]["errorCode"] == "CMN-301"
    assert (await sim.counts())["requests_during_penalty"] == 2


async def test_fsync_without_a_record_count_is_refused_as_ringcentral_does(sim):
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        headers = {"Authorization": f"Bearer {(await login(http))['access_token']}"}
        response = await http.get(SYNC, params={"syncType": "FSync"}, headers=headers)

    assert response.status_code == 400
    assert response.json()["errors"][0]["parameterName"] == "recordCount"


async def test_the_control_api_refuses_unknown_settings_and_records(sim):
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        unknown_setting = await http.post("/_sim/reset", json={"access_ttl": 5})
        unknown_call = await http.patch("/_sim/calls/NOPE", json={"result": "Missed"})
        bad_fault = await http.post("/_sim/faults", json={"status": 500, "sometimes": True})

    assert [unknown_setting.status_code, unknown_call.status_code, bad_fault.status_code] == [422, 422, 422]
    assert "access_ttl" in unknown_setting.json()["error"]
