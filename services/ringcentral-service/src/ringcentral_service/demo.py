"""Demo mode: the simulator served by the service itself, so `make dev` shows calls flowing without an account.

With RINGCENTRAL_DEMO=true the simulator answers under `<prefix>/simulator` (RingCentral's paths, and its control
API under `/_sim/`), and the service's own RingCentral client talks to that same simulator inside the process
(`transport`), with the simulator's credentials: nothing RingCentral-bound goes onto the network, so neither the
port the service serves on nor any configured credential or URL can send a credential elsewhere. Without the
setting every simulator path answers 404, so a live deployment exposes nothing of it.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI, HTTPException, Request
from zaps.context import Runtime, runtime_of

from ringcentral_service.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_JWT, Settings
from ringcentral_service.simulator import Simulator, SimulatorConfig, build_router

PATH = "/simulator"


async def _nothing_to_close(simulator: Simulator) -> None:
    return None


def simulator_for(runtime: Runtime[Settings]) -> Simulator:
    """The service's one simulator, shared by its HTTP routes and its own RingCentral client."""
    simulator: Simulator = runtime.resource(
        "ringcentral-simulator",
        lambda: Simulator(SimulatorConfig(client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, jwt=DEMO_JWT)),
        _nothing_to_close,
    )
    return simulator


def demo_simulator(request: Request) -> Simulator:
    runtime = runtime_of(Settings)(request)
    if not runtime.settings.ringcentral_demo:
        raise HTTPException(status_code=404, detail="Not Found")
    return simulator_for(runtime)


def transport(runtime: Runtime[Settings]) -> httpx.AsyncBaseTransport:
    """The demo client's way to the simulator: a call into this process at the paths the service serves it on."""
    base = runtime.settings.path_prefix + PATH
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(build_router(lambda request: simulator_for(runtime), base_path=base), prefix=base)
    return httpx.ASGITransport(app=app)


router = APIRouter(prefix=PATH)
router.include_router(build_router(demo_simulator, base_path=PATH, include_in_schema=False))
