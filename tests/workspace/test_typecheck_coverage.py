"""mypy checks every package of the workspace, found by itself: a new folder under libs/ or services/ needs no
edit of the mypy settings, and a package that mypy would skip, or check under the wrong name, fails here."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mypy.main import process_options

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    # mypy reads pyproject.toml from, and expands its `files` patterns in, the current directory.
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def modules_mypy_checks(root: Path) -> dict[str, Path]:
    """The modules `uv run mypy` (no arguments) would check in `root`, by name, each with its file."""
    with working_directory(root):
        sources, _ = process_options([])
    return {source.module: (root / source.path).resolve() for source in sources if source.path}


def expected_modules(root: Path) -> dict[Path, str | None]:
    """Every .py file under a package's src/ folder, with the name it is imported by: the path below src/, dotted.

    A file in a folder without an __init__.py (Alembic's migration scripts) is not imported as part of a package;
    it must be checked, under whatever name.
    """
    expected: dict[Path, str | None] = {}
    for src in sorted([*root.glob("libs/*/src"), *root.glob("services/*/src")]):
        for path in sorted(src.rglob("*.py")):
            parts = path.relative_to(src).with_suffix("").parts
            in_package = all((src.joinpath(*parts[:depth]) / "__init__.py").exists() for depth in range(1, len(parts)))
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            expected[path.resolve()] = name if in_package else None
    return expected


def unchecked(root: Path) -> list[str]:
    """Files mypy would skip, or check under another name than the one they are imported by."""
    checked = {path: name for name, path in modules_mypy_checks(root).items()}
    return [
        f"{name or path.stem} ({path.relative_to(root)})"
        for path, name in expected_modules(root).items()
        if path not in checked or (name is not None and checked[path] != name)
    ]


def test_mypy_checks_every_module_of_every_package() -> None:
    assert len(expected_modules(ROOT)) > 50  # the library and three services: the search found them
    assert unchecked(ROOT) == []


def test_a_new_service_folder_is_checked_without_an_edit(tmp_path: Path) -> None:
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for folder in (
        "bench",
        "libs/zaps/src/zaps",
        "services/console/src/zaps_console",
        "services/brand-new/src/brand_new",
    ):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "services/brand-new/src/brand_new/automations.py").write_text("")
    checked = modules_mypy_checks(tmp_path)
    assert checked["brand_new.automations"] == tmp_path / "services/brand-new/src/brand_new/automations.py"
    assert checked["zaps_console"] == tmp_path / "services/console/src/zaps_console/__init__.py"
    assert unchecked(tmp_path) == []


def test_a_listed_set_of_folders_misses_the_new_one(tmp_path: Path) -> None:
    # The settings this replaced: a folder missing from the list was skipped without a word.
    settings = (ROOT / "pyproject.toml").read_text()
    start = settings.index("[tool.mypy]")
    listed = (
        '[tool.mypy]\nstrict = true\nexplicit_package_bases = true\nmypy_path = ["libs/zaps/src"]\n'
        'files = ["libs/zaps/src"]\n'
    )
    (tmp_path / "pyproject.toml").write_text(settings[:start] + listed)
    for folder in ("libs/zaps/src/zaps", "services/brand-new/src/brand_new"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    assert unchecked(tmp_path) == ["brand_new (services/brand-new/src/brand_new/__init__.py)"]
