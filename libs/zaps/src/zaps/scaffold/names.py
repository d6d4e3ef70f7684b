"""What a new service is called in each place: its folder, package, route, settings and compose profile.

One short name (`orders`) gives them all, the way test-service's `test` does: folder `services/orders-service`,
package `orders_service`, `zaps serve orders`, route `/api/orders`, variables `ORDERS_…`, compose profile `orders`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Lower-case words joined by single dashes: valid as a folder, a compose service, a Traefik router, a URL path,
# and (dashes as underscores) a Python package and an environment variable prefix.
_SHORT_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
# Long enough for a name, short enough for the longest compose line it ends up in (120 characters, yamllint).
MAX_LENGTH = 14


class ScaffoldError(Exception):
    """The service cannot be made as asked; the message says why and what to do instead."""


@dataclass(frozen=True)
class ServiceNames:
    short: str  # "orders"

    @property
    def folder(self) -> str:
        # The Dockerfile runs `zaps serve <folder without -service>`: the suffix is what ties the two.
        return f"{self.short}-service"

    @property
    def package(self) -> str:
        return self.folder.replace("-", "_")

    @property
    def path_prefix(self) -> str:
        return f"/api/{self.short}"

    @property
    def setting_prefix(self) -> str:
        """Start of the service's own setting names: every service reads the same .env, so each keeps to its own."""
        return self.short.replace("-", "_")

    @property
    def env_prefix(self) -> str:
        return self.setting_prefix.upper()

    @property
    def title(self) -> str:
        return self.short.replace("-", " ").capitalize()


def parse_name(raw: str) -> ServiceNames:
    """The names for `zaps new service <raw>`; "orders" and "orders-service" mean the same service."""
    short = raw.strip().removesuffix("-service")
    if not _SHORT_NAME.match(short):
        raise ScaffoldError(
            f"{raw!r} is not a service name: use lower-case letters, digits and single dashes, starting with a "
            "letter (e.g. orders, crm-sync)"
        )
    if len(short) > MAX_LENGTH:
        raise ScaffoldError(f"{raw!r} is longer than {MAX_LENGTH} characters; pick a shorter name")
    return ServiceNames(short)
