"""Is everything a service declares really attached to it? Checked when its app is made, so a mistake stops the start.

Three mistakes used to pass in silence:
- an automations module that nothing imported: its automations never registered, and nothing said so;
- a setting named by a trigger (`webhook(secret_setting="…")`) that the settings class does not have: a 500 at the
  first request instead of a start-up error;
- a module listed in `Service(automations=[...])` that does not exist.

So a service lists the modules that declare its automations and pollers (`Service(Settings, automations=[...])`),
Zaps imports them when the app is made, reads the source of every other module of the service's package, and refuses
to start if one of them declares automations or pollers (calls `.automation(...)` or `.poller(...)`) without being
listed. The module that builds the `Service` counts as listed: what it declares is loaded with the service.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from zaps.connectors.base import settings_problems
from zaps.settings import SettingsT

if TYPE_CHECKING:  # for annotations only: the service module imports this one
    from zaps.service import Service

# The methods of `Service` that attach something: a module that calls one of them declares automations or pollers.
DECLARING_METHODS = frozenset({"automation", "poller"})


class DeclarationError(Exception):
    """The service's code does not hold together; the message names each problem on one line."""


def import_listed_modules(service: Service[SettingsT]) -> list[str]:
    """Import each module of `Service(automations=[...])` (which registers what it declares); returns problems."""
    problems = []
    for name in service.automation_modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is None or not (name == error.name or name.startswith(error.name + ".")):
                raise  # the module exists but imports something missing: that traceback is the useful one
            problems.append(f"Service(automations=[...]) in {service.module} lists {name!r}, which does not exist")
    return problems


def unlisted_modules(service: Service[SettingsT]) -> list[str]:
    """Modules of the service's package that declare automations or pollers but are not listed."""
    listed = {service.module, *service.automation_modules}
    problems = []
    for module, path in package_modules(service.module):
        if module in listed:
            continue
        line = first_declaration(path)
        if line is not None:
            problems.append(
                f"{path} declares automations or pollers (line {line}) but is not listed: add {module!r} to "
                f"Service(automations=[...]) in {service.module}, or nothing in it runs"
            )
    return problems


def package_modules(module: str) -> Iterator[tuple[str, Path]]:
    """Every module of the package holding `module`, with its source file (none for a module outside a package).

    The package is looked up among the modules already imported, so nothing is imported to find it; a namespace
    package (no `__init__.py`) has no single folder and is skipped.
    """
    package_name = module.rpartition(".")[0]
    package = sys.modules.get(package_name) if package_name else None
    package_file = getattr(package, "__file__", None)
    if package is None or package_file is None or Path(package_file).name != "__init__.py":
        return
    root = Path(package_file).parent
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join((package_name, *parts)), path


def first_declaration(path: Path) -> int | None:
    """The line of the first `.automation(...)` or `.poller(...)` call in this file, or None."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError):
        return None  # not importable either; whatever imports it reports the error
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DECLARING_METHODS:
            return node.lineno
    return None


def unknown_settings(service: Service[SettingsT]) -> list[str]:
    """Setting names given to triggers and pollers that the service's settings class does not have."""
    fields = service.settings_class.model_fields
    named = [(f"automation {a.name}", a.setting_names()) for a in service.automations.values()]
    named += [(f"poller {p.source}", p.setting_names()) for p in service.pollers.values()]
    problems = []
    for owner, options in named:
        for option, setting in options.items():
            if setting in fields:
                continue
            close = difflib.get_close_matches(setting, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"{owner}: {option}={setting!r} is not a setting of {service.settings_class.__name__}{hint}"
            )
    return problems


def connector_settings(service: Service[SettingsT]) -> list[str]:
    """Connectors an automation `uses` whose credentials are missing or invalid (named, never quoted)."""
    problems = []
    for automation in service.automations.values():
        problems += [f"automation {automation.name} uses {line}" for line in settings_problems(automation.uses)]
    return problems


def check(service: Service[SettingsT], *, scan_package: bool = True) -> None:
    """Load the listed modules and raise `DeclarationError` naming every problem found."""
    problems = import_listed_modules(service)
    if scan_package:
        problems += unlisted_modules(service)
    problems += unknown_settings(service)
    problems += connector_settings(service)
    if problems:
        raise DeclarationError(f"the {service.name} service cannot start:\n  " + "\n  ".join(problems))
