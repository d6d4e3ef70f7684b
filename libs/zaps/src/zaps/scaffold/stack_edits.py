"""The edits a new service needs in the repository's own files, made as text so that comments and layout stay.

Each function takes a file's text and returns it changed, or raises `ScaffoldError` naming what it could not find
(a file someone reshaped by hand): nothing is written unless every edit can be made.
"""

from __future__ import annotations

import re

from zaps.scaffold.names import ScaffoldError, ServiceNames

SERVICE_MEMORY_MIB = 256  # the `deploy.resources.limits.memory` of the compose files' `x-app` block

_TOTAL_ROW = re.compile(r"^\| \*\*total \(production\)\*\* \| \*\*(\d+) MiB\*\* \|", re.MULTILINE)


def _section(text: str, header: str, where: str) -> tuple[int, int]:
    """Start and end of a TOML table (`[header]` up to the next table), or of a YAML top-level key."""
    match = re.search(rf"^{re.escape(header)}\n", text, flags=re.MULTILINE)
    if match is None:
        raise ScaffoldError(f"{where}: no `{header}` line to add the service under")
    start = match.end()
    following = re.compile(r"^\[" if header.startswith("[") else r"^[^\s#]", flags=re.MULTILINE).search(text, start)
    return start, following.start() if following else len(text)


def add_workspace_member(pyproject: str, names: ServiceNames) -> str:
    """The root pyproject.toml: the service as a dependency of the workspace root and as a workspace source."""
    start, end = _section(pyproject, "[project]", "pyproject.toml")
    listed = re.compile(r"^dependencies = \[(.*?)\]", flags=re.MULTILINE | re.DOTALL).search(pyproject, start, end)
    if listed is None:
        raise ScaffoldError("pyproject.toml: no `dependencies = [...]` in [project]")
    items = listed.group(1)
    if "\n" in items:  # one dependency a line: add a line of its own
        body = items.rstrip() + ("" if items.rstrip().endswith(",") else ",") + f'\n    "{names.folder}",\n'
    else:
        body = f'{items}, "{names.folder}"' if items.strip() else f'"{names.folder}"'
    pyproject = pyproject[: listed.start(1)] + body + pyproject[listed.end(1) :]
    start, end = _section(pyproject, "[tool.uv.sources]", "pyproject.toml")
    block = pyproject[start:end].rstrip("\n")
    line = f"{names.folder} = {{ workspace = true }}"
    rest = pyproject[end:].lstrip("\n")
    return pyproject[:start] + (f"{block}\n{line}\n" if block else f"{line}\n") + ("\n" + rest if rest else "")


def add_compose_service(compose: str, block: str, where: str) -> str:
    """A compose file: `block` (a service, indented under `services:`) appended after the last service."""
    start, end = _section(compose, "services:", where)
    # Comments at the left margin just above the next top-level key belong to that key, not to the services.
    lines = compose[start:end].splitlines(keepends=True)
    while lines and (lines[-1].startswith("#") or not lines[-1].strip()):
        end -= len(lines.pop())
    services = compose[start:end].rstrip("\n") + "\n"
    rest = compose[end:].lstrip("\n")
    return compose[:start] + services + block + ("\n" + rest if rest else "")


def add_memory_row(deploy_md: str, names: ServiceNames) -> tuple[str, int]:
    """docs/deploy.md's memory table: a row for the service, and the production total raised by its limit."""
    total = _TOTAL_ROW.search(deploy_md)
    if total is None:
        raise ScaffoldError("docs/deploy.md: no `| **total (production)** | **… MiB** |` row in the memory table")
    new_total = int(total.group(1)) + SERVICE_MEMORY_MIB
    row = f"| `{names.folder}` | {SERVICE_MEMORY_MIB} MiB | made by `zaps new service {names.short}` |\n"
    total_row = total.group(0).replace(f"**{total.group(1)} MiB**", f"**{new_total} MiB**")
    return deploy_md[: total.start()] + row + total_row + deploy_md[total.end() :], new_total


def add_env_example(env_example: str, block: str, names: ServiceNames) -> str:
    """.env.example: the service's variables, in a section before the Docker Compose one, and its compose profile
    in COMPOSE_PROFILES (which lists every optional service there)."""
    compose_section = re.search(r"^# --- Docker Compose ", env_example, flags=re.MULTILINE)
    if compose_section is None:
        raise ScaffoldError(".env.example: no `# --- Docker Compose` section to put the service's variables before")
    text = env_example[: compose_section.start()] + block + env_example[compose_section.start() :]
    profiles = re.search(r"^COMPOSE_PROFILES=(.*)$", text, flags=re.MULTILINE)
    if profiles is None:
        return text
    listed = [name for name in profiles.group(1).split(",") if name]
    note = f"# {names.short}: {names.folder} (in production it also needs {names.env_prefix}_WEBHOOK_SECRET).\n"
    line = "COMPOSE_PROFILES=" + ",".join([*listed, names.short])
    return text[: profiles.start()] + note + line + text[profiles.end() :]
