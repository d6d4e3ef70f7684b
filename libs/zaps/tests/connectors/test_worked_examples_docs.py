"""docs/connectors.md's "Worked examples" show the files of docs/examples whole, as the suite runs them
(services/ringcentral-service/tests/test_missed_call_example.py, test_inbound_examples.py beside this file), and
the pointers to them from docs/webhooks.md lead to headings that exist."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[4] / "docs"
EXAMPLES = DOCS / "examples"
LANGUAGES = {".py": "python", ".toml": "toml", ".html": "html"}


def section(text: str, heading: str) -> str:
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def blocks(markdown: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w+)\n(.*?)^```$", markdown, flags=re.S | re.M)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, each space a dash."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("path", sorted(EXAMPLES.iterdir()), ids=lambda path: path.name)
def test_each_example_file_is_shown_whole(path):
    shown = blocks(section((DOCS / "connectors.md").read_text(), "Worked examples"))
    assert (LANGUAGES[path.suffix], path.read_text()) in shown, f"docs/connectors.md does not show {path.name} as it is"


def test_the_pointers_from_the_webhooks_page_lead_somewhere():
    anchors = {slug(line.lstrip("#")) for line in (DOCS / "connectors.md").read_text().splitlines() if line[:1] == "#"}
    pointers = re.findall(r"\(connectors\.md#([\w-]+)\)", (DOCS / "webhooks.md").read_text())
    assert {"worked-examples", "a-stripe-payment--a-row"} <= set(pointers)
    assert set(pointers) <= anchors
