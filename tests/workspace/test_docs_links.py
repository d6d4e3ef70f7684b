"""Every link between the docs lands somewhere: the file exists, and so does the heading its #anchor names."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s#]*)(?:#([^)\s]+))?\)")
# A heading named in prose: see "Adding a service" in `docs/deploy.md`.
QUOTED = re.compile(r'"([^"\n]+)" in `?((?:docs/)?[\w.-]+\.md)')


def anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped (dashes kept), spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # a `# comment` in a code block is no heading
    return {anchor(heading) for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


def broken_links(pages: list[Path]) -> list[str]:
    broken = []
    for page in pages:
        for target, fragment in LINK.findall(page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path = (page.parent / target).resolve() if target else page
            if not path.exists():
                broken.append(f"{page.name}: {target} does not exist")
            elif fragment and path.suffix == ".md" and fragment not in anchors(path):
                broken.append(f"{page.name}: {target}#{fragment} names no heading")
        for heading, name in QUOTED.findall(page.read_text()):
            path = ROOT / name if name.startswith("docs/") else page.parent / name
            if not path.exists() or anchor(heading) not in anchors(path):
                broken.append(f'{page.name}: "{heading}" in {name} names no heading')
    return broken


def test_every_link_and_anchor_in_the_docs_exists():
    assert broken_links(PAGES) == []


def test_a_link_to_a_heading_that_is_gone_is_caught(tmp_path):
    (tmp_path / "a.md").write_text(
        '# A\n\n## Adding a service\n\nSee [b](b.md#adding-a-service), [c](c.md), "Adding a service" in b.md.\n'
    )
    (tmp_path / "b.md").write_text("# B\n\n## Add a new service to the stack\n\n[back](a.md#adding-a-service)\n")
    assert broken_links([tmp_path / "a.md", tmp_path / "b.md"]) == [
        "a.md: b.md#adding-a-service names no heading",
        "a.md: c.md does not exist",
        'a.md: "Adding a service" in b.md names no heading',
    ]
