"""Finds the installed services: each service package declares itself under the `zaps.services` entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

from zaps.service import Service

ENTRY_POINT_GROUP = "zaps.services"


def discover_services() -> dict[str, Service]:
    found: dict[str, Service] = {}
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        service = entry.load()
        if not isinstance(service, Service):
            raise TypeError(f"entry point {entry.name!r} ({entry.value}) is not a zaps Service")
        found[entry.name] = service
    return found


def get_service(name: str) -> Service:
    services = discover_services()
    if name not in services:
        known = ", ".join(services) or "none"
        raise SystemExit(f"unknown service {name!r}; installed services: {known}")
    return services[name]
