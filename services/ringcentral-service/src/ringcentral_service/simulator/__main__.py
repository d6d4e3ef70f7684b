"""`python -m ringcentral_service.simulator --port 8090`: the simulator on its own, for trying the client by hand."""

from __future__ import annotations

import argparse

import uvicorn

from ringcentral_service.simulator.server import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the RingCentral simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    print(f"RingCentral simulator on http://{args.host}:{args.port} (control API: /_sim/docs)", flush=True)
    uvicorn.run(create_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
