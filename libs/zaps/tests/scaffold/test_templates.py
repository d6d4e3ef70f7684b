"""The generated files pass the repository's own ruff settings for any name, short or long, and hold no
placeholder; a template that names something unknown is an error, not an empty hole."""

import subprocess
import sys
from pathlib import Path

import pytest
from zaps.scaffold import render
from zaps.scaffold.names import MAX_LENGTH, parse_name

ROOT = Path(__file__).resolve().parents[4]
RUFF = Path(sys.executable).parent / "ruff"
NAMES = ["a", "crm-sync", "abcdefg-jklmno"]
STACK_BLOCKS = ["docker-compose.yml", "docker-compose.prod.yml", "docker-compose.override.yml", "env.example"]


def write_service(tmp_path: Path, raw: str) -> Path:
    names = parse_name(raw)
    folder = tmp_path / "services" / names.folder
    for path, text in render.service_files(names).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    return folder


def test_the_longest_name_is_used_here():
    assert max(len(name) for name in NAMES) == MAX_LENGTH


@pytest.mark.parametrize("raw", NAMES)
def test_the_service_files_pass_ruff_as_they_are(tmp_path, raw):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    folder = write_service(tmp_path, raw)
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run([str(RUFF), *command], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()) == [
        "pyproject.toml",
        f"src/{parse_name(raw).package}/__init__.py",
        f"src/{parse_name(raw).package}/automations.py",
        f"src/{parse_name(raw).package}/service.py",
        f"src/{parse_name(raw).package}/settings.py",
        "tests/test_automations.py",
    ]


@pytest.mark.parametrize("raw", NAMES)
def test_no_generated_line_is_too_long_or_left_unfilled(raw):
    names = parse_name(raw)
    texts = {**render.service_files(names), **{b: render.stack_block(b, names) for b in STACK_BLOCKS}}
    for path, text in texts.items():
        assert "{{" not in text, path
        for line in text.splitlines():
            assert len(line) <= 120, f"{path}: {line}"  # ruff's and yamllint's limit


def test_an_unknown_placeholder_is_an_error():
    with pytest.raises(KeyError, match="colour"):
        render.render("service {{folder}} in {{colour}}", parse_name("orders"))
