"""README.md and docs/ checked against the code they describe, so they cannot drift quietly.

The settings table must list exactly the variables the settings read, the metrics table
exactly the metrics the worker exports, the layout table every module, and every relative
link must lead to a file (and heading) that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ticket_slo.agents.metrics import METRIC_NAMES
from ticket_slo.streams.alerting.bridge_settings import ALERT_BRIDGE_ENVIRONMENT
from ticket_slo.streams.kafka.settings import ENVIRONMENT

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
PACKAGE_FOLDERS = ("schemas", "streams", "agents")

#: A Markdown link or image target: ``[text](target)``.
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", flags=re.MULTILINE | re.DOTALL)


def documents() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def section(path: Path, heading: str) -> str:
    """The text under ``## heading`` up to the next heading of the same level."""
    text = path.read_text(encoding="utf-8")
    found = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert found, f"{path.relative_to(REPO)} has no '## {heading}' section"
    return found.group(1)


def first_column(text: str) -> set[str]:
    """The backticked names that open the rows of the Markdown tables in ``text``."""
    return set(re.findall(r"^\| `([^`]+)`", text, flags=re.MULTILINE))


def anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {anchor(title) for title in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def relative_links(path: Path) -> list[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return [target for target in _LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def broken_links(path: Path) -> list[str]:
    """``target: why`` for every relative link of ``path`` that leads nowhere."""
    broken = []
    for target in relative_links(path):
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no heading with that anchor")
    return broken


def test_readme_lists_every_setting_and_nothing_else() -> None:
    assert first_column(section(README, "Settings")) == set(ENVIRONMENT) | set(ALERT_BRIDGE_ENVIRONMENT)


def test_readme_keeps_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text


def test_operations_lists_every_metric_and_nothing_else() -> None:
    rows = first_column(section(DOCS / "operations.md", "Metrics"))
    assert {re.sub(r"\{.*\}$", "", row) for row in rows} == set(METRIC_NAMES)


def test_the_layout_table_names_every_module() -> None:
    layout = section(DOCS / "design.md", "Modules")
    modules = sorted(
        path.relative_to(REPO).as_posix()
        for folder in PACKAGE_FOLDERS
        for path in (REPO / folder).rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )
    missing = [module for module in modules if f"`{module}`" not in layout]
    assert missing == [], f"docs/design.md does not describe: {', '.join(missing)}"


@pytest.mark.parametrize("path", documents(), ids=lambda path: path.relative_to(REPO).as_posix())
def test_relative_links_lead_somewhere(path: Path) -> None:
    assert broken_links(path) == []


def test_the_readme_links_every_document() -> None:
    linked = {target.partition("#")[0] for target in relative_links(README)}
    assert {f"docs/{path.name}" for path in DOCS.glob("*.md")} <= linked


def test_the_link_check_catches_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## Some heading: here\n", encoding="utf-8")
    page.write_text("[a](other.md#some-heading-here) [b](gone.md) [c](other.md#nowhere) "
                    "[d](https://example.com/x)\n", encoding="utf-8")
    assert broken_links(page) == ["gone.md: no such file", "other.md#nowhere: no heading with that anchor"]
