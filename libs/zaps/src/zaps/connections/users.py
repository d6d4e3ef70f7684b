"""Which automations use which connector: read from the installed services, as `zaps dev` starts them.

Each service's app is made (`create_app`, which opens nothing: no database, no worker) because that is where
automations are declared, and for the RingCentral service where its automations file is read. When a connector an
automation `uses` is not configured, `create_app` refuses with a DeclarationError, but only after every automation
is declared (the check comes last), so the automations are read even then: that refusal is exactly what this
command reports, per connector.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

from zaps.connectors.base import Connector
from zaps.declarations import DeclarationError
from zaps.registry import InstalledService, discover_services, get_service, load_service_object


@dataclass
class Users:
    by_connector: dict[str, list[str]] = field(default_factory=dict)  # connector name -> automations
    connectors: dict[str, type[Connector]] = field(default_factory=dict)  # connector name -> class
    services: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # services that could not be read


def find_users(names: Iterable[str] | None) -> Users:
    """The automations of the named services (every installed one when None; a name may be "module:attribute", as
    for `zaps serve`) and the connectors they use."""
    found = Users()
    try:
        if names is None:
            services = discover_services()
        else:
            services = {name: load_service_object(name) if ":" in name else get_service(name) for name in names}
    except SystemExit as unknown:  # the registry names the installed services
        found.problems.append(str(unknown))
        return found
    except (ImportError, AttributeError, TypeError) as error:
        found.problems.append(f"no such service: {error}")
        return found
    for name, service in services.items():
        found.services.append(name)
        problem = _declare(service)
        if problem:
            found.problems.append(f"service {name}: {problem}")
        for automation in getattr(service, "automations", {}).values():
            for used in automation.uses:
                found.by_connector.setdefault(used.name, []).append(automation.name)
                found.connectors[used.name] = used
    return found


def _declare(service: InstalledService) -> str | None:
    """Make the service's app so that its automations are declared; what stopped it, if anything else did."""
    try:
        # The app configures logging on stdout; stdout is this command's report (and its JSON), so not there.
        with contextlib.redirect_stdout(sys.stderr):
            service.create_app()
    except DeclarationError as refused:
        # "automation X uses <connector>: VAR is not set" is said on that connector's line; any other line is a
        # problem of the service itself (an unlisted module, a trigger naming an unknown setting).
        lines = [line.strip() for line in str(refused).splitlines()[1:] if line.strip()]
        others = [line for line in lines if not (line.startswith("automation ") and " uses " in line)]
        return "; ".join(others) or None
    except SystemExit:  # its settings or its automations file are wrong: the reason was printed on stderr
        return "its settings are invalid (see above); its automations could not all be read"
    except Exception as error:
        return f"could not be loaded ({type(error).__name__}: {str(error)[:300]})"
    return None
