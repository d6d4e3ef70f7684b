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
        assert elsewhere.requests == []
    exchanges = seen.json()
    # The simulator grants a token only for its own credentials: the service signed in with those.
    assert [e["status"] for e in exchanges if e["operation"] == "getToken"] == [200]
    sent = str(exchanges)
    for secret in REAL.values():
        assert secret not in sent
