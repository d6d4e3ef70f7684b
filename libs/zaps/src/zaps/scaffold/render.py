"""The files of a new service, and its blocks for the stack's files, from the templates shipped in this package.

A template is plain text with `{{name}}` where a name of the service goes (the properties of `ServiceNames`);
nothing else is special, so Python, YAML and compose's own `${VAR}` are written as they will be.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable

from zaps.scaffold.names import ServiceNames

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_HEADER_WIDTH = 109  # the `# --- name ---…` section lines of .env.example

TEMPLATES = files("zaps.scaffold") / "templates"


def values(names: ServiceNames) -> dict[str, str]:
    header = f"# --- {names.folder} "
    return {
        "short": names.short,
        "folder": names.folder,
        "package": names.package,
        "path_prefix": names.path_prefix,
        "setting": names.setting_prefix,
        "env": names.env_prefix,
        "title": names.title,
        "rule": "-" * max(3, _HEADER_WIDTH - len(header)),
    }


def render(text: str, names: ServiceNames) -> str:
    known = values(names)

    def substitute(match: re.Match[str]) -> str:
        if match.group(1) not in known:
            raise KeyError(f"the template names {{{{{match.group(1)}}}}}, which is not a name of the service")
        return known[match.group(1)]

    return _PLACEHOLDER.sub(substitute, text)


def stack_block(name: str, names: ServiceNames) -> str:
    """The block a stack file gets (`docker-compose.yml`, `env.example`, …), filled in."""
    return render((TEMPLATES / "stack" / f"{name}.tmpl").read_text(), names)


def service_files(names: ServiceNames) -> dict[str, str]:
    """Each file of services/<folder>/, by its path in there: `src/` holds the package."""
    found: dict[str, str] = {}

    def walk(folder: Traversable, path: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda item: item.name):
            if entry.is_dir():
                walk(entry, f"{path}{entry.name}/")
            elif entry.name.endswith(".tmpl"):
                found[f"{path}{entry.name.removesuffix('.tmpl')}"] = render(entry.read_text(), names)

    walk(TEMPLATES / "service", "")
    return {
        (f"src/{names.package}/{path.removeprefix('src/')}" if path.startswith("src/") else path): text
        for path, text in found.items()
    }
