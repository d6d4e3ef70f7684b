"""Demo mode: the simulator served by the service itself, so `make dev` shows calls flowing without an account.

With RINGCENTRAL_DEMO=true the simulator answers under `<prefix>/simulator` (RingCentral's paths, and its control
API under `/_sim/`); point RINGCENTRAL_SERVER_URL and RINGCENTRAL_MEDIA_URL there. Without the setting every
simulator path answers 404, so a live deployment exposes nothing of it.
"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, HTTPException, Request
from zaps.context import get_runtime

from ringcentral_service.settings import Settings
from ringcentral_service.simulator import Simulator, SimulatorConfig, build_router

PATH = "/simulator"


def demo_simulator(request: Request) -> Simulator:
    settings = cast(Settings, get_runtime(request).settings)
    if not settings.ringcentral_demo:
        raise HTTPException(status_code=404, detail="Not Found")
    simulator: Simulator | None = getattr(request.app.state, "ringcentral_simulator", None)
    if simulator is None:
        credentials = settings.ringcentral_credentials()
        assert credentials is not None  # demo mode fills in the demo credentials
        client_id, client_secret, jwt = credentials
        simulator = Simulator(
            SimulatorConfig(
                client_id=client_id, client_secret=client_secret.get_secret_value(), jwt=jwt.get_secret_value()
            )
        )
        request.app.state.ringcentral_simulator = simulator
    return simulator


router = APIRouter(prefix=PATH)
router.include_router(build_router(demo_simulator, base_path=PATH, include_in_schema=False))
