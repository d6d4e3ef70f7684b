"""How the simulated account is set up: credentials, lifetimes, rate limits, and the faults a test asks for."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any


class SimulatorError(ValueError):
    """A control-API request the simulator cannot carry out (unknown record, bad field)."""


@dataclass
class GroupLimit:
    limit: int
    window_s: float = 60.0
    penalty_s: float = 60.0


def default_limits() -> dict[str, GroupLimit]:
    # RingCentral's default usage plan (research §3).
    return {
        "Heavy": GroupLimit(10),
        "Medium": GroupLimit(40),
        "Light": GroupLimit(50),
        "Auth": GroupLimit(5),
    }


@dataclass
class SimulatorConfig:
    client_id: str = "sim-client-id"
    client_secret: str = "sim-client-secret"
    jwt: str = "sim-jwt-credential"
    account_id: str = "400000001"
    extension_id: str = "400000101"
    extension_number: str = "101"
    owner_name: str = "Sam Owner"
    phone_numbers: tuple[str, ...] = ("+16505550100",)
    access_ttl_s: float = 3600.0
    refresh_ttl_s: float = 604_800.0
    message_sync_overlap_s: float = 5.0
    rate_limits: dict[str, GroupLimit] = field(default_factory=default_limits)
    media_url: str | None = None  # absolute base for content URIs; None: the simulator's own address

    def with_overrides(self, overrides: dict[str, Any]) -> SimulatorConfig:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise SimulatorError(f"unknown config fields: {', '.join(sorted(unknown))}")
        values = dict(overrides)
        # A fresh copy of the limits always, so changing the running config never changes the one reset uses.
        limits = {name: replace(limit) for name, limit in self.rate_limits.items()}
        for group, spec in (values.get("rate_limits") or {}).items():
            limits[group] = GroupLimit(**{**vars(limits.get(group, GroupLimit(10))), **spec})
        values["rate_limits"] = limits
        if "phone_numbers" in values:
            values["phone_numbers"] = tuple(values["phone_numbers"])
        return replace(self, **values)


@dataclass
class Fault:
    """Answer the next `times` requests of `operation` ("*" for any) with `status`, after `delay_s`."""

    operation: str = "*"
    status: int | None = None  # None: only the delay
    times: int | None = 1  # None: until cleared
    retry_after: float | None = None
    error_code: str | None = None
    message: str | None = None
    delay_s: float = 0.0
