"""Demo mode as a real process: `zaps serve ringcentral --port N` with no PORT variable and real-looking credentials
configured polls its own simulator with the simulator's credentials, and sends nothing anywhere else."""

import httpx
from zaps.testing.apps import server_process
from zaps.testing.sink import Sink
from zaps.testing.waiting import eventually

REAL = {
    "RINGCENTRAL_CLIENT_ID": "real-client-id-4f1a",
    "RINGCENTRAL_CLIENT_SECRET": "real-client-secret-9c2e",
    "RINGCENTRAL_JWT": "real-jwt-credential-77d0",
}


async def test_demo_mode_sends_no_credential_anywhere_but_its_own_simulator(database_url, redis_url, monkeypatch):
    monkeypatch.delenv("PORT", raising=False)  # `zaps serve --port N` alone must be enough
    env = {
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "RINGCENTRAL_DEMO": "true",
        "RINGCENTRAL_POLL_INTERVAL_SECONDS": "7",
        **REAL,
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    # Where the configured URLs point: a stand-in for RingCentral (or anything on a port) that must hear nothing.
    with Sink() as elsewhere:
        env["RINGCENTRAL_SERVER_URL"] = env["RINGCENTRAL_MEDIA_URL"] = elsewhere.url
        with server_process("ringcentral", env) as server:
            simulator = f"{server['base_url']}{server['prefix']}/simulator/_sim"
            async with httpx.AsyncClient(timeout=10) as http:
                seen = await eventually(
                    lambda: http.get(f"{simulator}/exchanges"),
                    lambda answer: any(e["operation"] == "syncUserCallLog" for e in answer.json()),
                    timeout=30,
                )
                grants = (await http.get(f"{simulator}/requests")).json()["token_grants"]
        assert elsewhere.requests == []
    exchanges = seen.json()
    # The simulator grants a token only for its own credentials: the service signed in with those.
    statuses = [e["status"] for e in exchanges if e["operation"] == "getToken"]
    assert 200 in statuses and grants.get("jwt", 0) >= 1, (statuses, grants)
    # Tokens are shared through Redis by server URL and credentials: a simulator on a port an earlier test used
    # finds that test's token, and its refresh is refused. That refusal is the only one allowed: it carries no
    # credential, only the stale token; a refused JWT grant (wrong credentials) is not.
    assert len([s for s in statuses if s != 200]) <= grants.get("refresh_token", 0), (statuses, grants)
    sent = str(exchanges)
    for secret in REAL.values():
        assert secret not in sent
