"""Finds the installed services: each service package declares itself under the `zaps.services` entry point."""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol

from fastapi import FastAPI

from zaps.service import Service
from zaps.settings import ZapsSettings

ENTRY_POINT_GROUP = "zaps.services"


class InstalledService(Protocol):
    """A service as the `zaps` command sees it: services differ in their settings class, and the command needs only
    what each can do without being told which (read its settings, make its app from the environment)."""

    @property
    def name(self) -> str: ...

    def load_settings(self) -> ZapsSettings: ...

    def create_app(self) -> FastAPI: ...


def _load(entry: EntryPoint) -> InstalledService:
    service = entry.load()
    if not isinstance(service, Service):
        raise TypeError(f"entry point {entry.name!r} ({entry.value}) is not a zaps Service")
    return service


def discover_services() -> dict[str, InstalledService]:
    return {entry.name: _load(entry) for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)}


def get_service(name: str) -> InstalledService:
    """Load one service (only its own code is imported)."""
    entries = {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise SystemExit(f"unknown service {name!r}; installed services: {known}")
    return _load(entries[name])


def load_service_object(path: str) -> InstalledService:
    """A service given as "module:attribute" (tests start services that are not installed packages)."""
    module_name, _, attribute = path.partition(":")
    service = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(service, Service):
        raise TypeError(f"{path} is not a zaps Service")
    return service
