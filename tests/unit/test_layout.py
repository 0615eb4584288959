"""The layers and the one import name, enforced on the source rather than trusted.

Import direction: ``ticket_slo.schemas`` ← ``ticket_slo.streams.core`` ← the rest of
``ticket_slo.streams`` (kafka ← tools, bench) ← ``ticket_slo.agents``. Only the agents
import Faust. Every import is checked, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDERS = {"schemas": "ticket_slo.schemas", "streams": "ticket_slo.streams", "agents": "ticket_slo.agents"}
FAUST = ("faust", "mode")


def python_files(*roots: str) -> list[Path]:
    return sorted(path for root in roots for path in (REPO / root).rglob("*.py") if "__pycache__" not in path.parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``; relative imports are resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path.relative_to(REPO)}:{node.lineno}: relative import; use ticket_slo.…")
            found.append((node.lineno, node.module or ""))
            # `from ticket_slo.streams.core import engine` imports the module ticket_slo.streams.core.engine
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def module_of(path: Path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([FOLDERS[parts[0]], *parts[1:]])


def violations(roots: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """``file:line imports PREFIX`` for every import of a module under one of ``forbidden``."""
    bad: dict[str, None] = {}
    for path in python_files(*roots):
        for line, name in imported_modules(path):
            for prefix in forbidden:
                if name == prefix or name.startswith(prefix + "."):
                    bad[f"{path.relative_to(REPO)}:{line} imports {prefix}"] = None
    return list(bad)


def test_no_module_imports_a_bare_top_level_folder() -> None:
    """``import streams`` would load a second copy of a module beside ``ticket_slo.streams``."""
    assert violations(("schemas", "streams", "agents", "tests", "deploy"), tuple(FOLDERS)) == []


def test_schemas_import_nothing_else_of_ours() -> None:
    assert violations(("schemas",), ("ticket_slo.streams", "ticket_slo.agents")) == []


def test_the_engine_imports_only_the_schemas_and_itself() -> None:
    forbidden = ("ticket_slo.agents", "ticket_slo.streams.kafka", "ticket_slo.streams.tools",
                 "ticket_slo.streams.bench", "kafka", "aiokafka", *FAUST, "socket", "asyncio", "time")
    assert violations(("streams/core",), forbidden) == []


def test_kafka_layer_does_not_import_the_tools_or_the_benchmark() -> None:
    assert violations(("streams/kafka",), ("ticket_slo.streams.tools", "ticket_slo.streams.bench",
                                          "ticket_slo.agents")) == []


def test_only_the_agents_import_faust() -> None:
    assert violations(("schemas", "streams"), (*FAUST, "ticket_slo.agents")) == []


@pytest.mark.parametrize("forbidden", [("ticket_slo.agents",), ("faust",)])
def test_the_checks_catch_a_violation(tmp_path: Path, forbidden: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanner itself: a module that breaks the direction is reported with its line."""
    folder = tmp_path / "streams"
    folder.mkdir()
    (folder / "bad.py").write_text(f"def later():\n    from {forbidden[0]} import x\n", encoding="utf-8")
    monkeypatch.setattr(__import__(__name__, fromlist=["REPO"]), "REPO", tmp_path)
    assert violations(("streams",), forbidden) == [f"streams/bad.py:2 imports {forbidden[0]}"]


def test_every_module_has_a_name_under_ticket_slo() -> None:
    for path in python_files("schemas", "streams", "agents"):
        assert module_of(path).startswith("ticket_slo."), path


def test_the_alert_rules_do_no_io() -> None:
    """Which alerts exist is decided without Kafka, HTTP or a clock, so that it is unit-tested alone."""
    rules = [path.relative_to(REPO).as_posix() for path in python_files("streams/alerting")
             if path.name in ("ticket_alerts.py", "alert_book.py")]
    assert len(rules) == 2
    forbidden = ("ticket_slo.streams.kafka", "ticket_slo.streams.tools", "ticket_slo.agents", "kafka", "aiokafka",
                 "urllib", "http", "socket", "asyncio", "time", "logging", "ticket_slo.streams.alerting.bridge",
                 "ticket_slo.streams.alerting.alertmanager", "ticket_slo.streams.alerting.open_alerts_topic")
    bad = [problem for problem in violations(("streams/alerting",), forbidden)
           if problem.split(":")[0] in rules]
    assert bad == []
