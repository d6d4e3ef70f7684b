"""A stateful RingCentral simulator for tests and demos (see `state` for what it models)."""

from ringcentral_service.simulator.config import Fault, GroupLimit, SimulatorConfig
from ringcentral_service.simulator.routes import build_router
from ringcentral_service.simulator.server import RunningSimulator, create_app, serve_in_thread
from ringcentral_service.simulator.state import Simulator

__all__ = [
    "Fault",
    "GroupLimit",
    "RunningSimulator",
    "Simulator",
    "SimulatorConfig",
    "build_router",
    "create_app",
    "serve_in_thread",
]
