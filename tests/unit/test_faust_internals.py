"""Faust's private attributes are read in one module, against the one version it was written for."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import faust

from ticket_slo.agents.faust_fixes.internals import PINNED_FAUST_VERSION, version_mismatch

REPO = Path(__file__).resolve().parents[2]
INTERNALS = REPO / "agents" / "faust_fixes" / "internals.py"
FAUST_MODULES = ("faust", "mode")


def test_the_pinned_version_is_the_one_pyproject_pins_and_the_one_installed() -> None:
    """Fails on an upgrade: check every read in internals.py (and every private override) first."""
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    [pinned] = re.findall(r'"faust-streaming==([^"]+)"', pyproject)
    assert (pinned, faust.__version__) == (PINNED_FAUST_VERSION, PINNED_FAUST_VERSION)


def test_another_version_gets_one_line_naming_both() -> None:
    assert version_mismatch(PINNED_FAUST_VERSION) is None
    message = version_mismatch("0.16.1")
    assert message is not None and "\n" not in message
    assert message.startswith(f"faust-streaming 0.16.1 is installed, but ticket-slo's workarounds read its "
                              f"private attributes as of {PINNED_FAUST_VERSION}")


def private_reads(source: str) -> list[str]:
    """``line: expression`` of each use of another object's private attribute in ``source``.

    Allowed: ``self._x`` in a class of our own, ``self._x`` in a subclass of a Faust class
    when the class defines ``_x`` itself (an override), and ``super()._x`` (the overridden
    original). Anything else, including ``getattr(obj, "_x")``, is a read of Faust's state.
    """
    tree = ast.parse(source)
    faust_names = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   and (node.module or "").split(".")[0] in FAUST_MODULES for alias in node.names}
    faust_names |= {(alias.asname or alias.name).split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names
                    if alias.name.split(".")[0] in FAUST_MODULES}
    found: list[str] = []

    def private(name: str) -> bool:
        return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

    def visit(node: ast.AST, faust_class: bool, own: set[str]) -> None:
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(base).split(".")[0] for base in node.bases}
            faust_class = bool(bases & faust_names)
            own = {item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if isinstance(node, ast.Attribute) and private(node.attr):
            target = node.value
            is_super = isinstance(target, ast.Call) and ast.unparse(target.func) == "super"
            is_self = isinstance(target, ast.Name) and target.id in ("self", "cls")
            if not is_super and not (is_self and (not faust_class or node.attr in own)):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        if (isinstance(node, ast.Call) and ast.unparse(node.func) in ("getattr", "setattr", "hasattr")
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str) and private(node.args[1].value)):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, faust_class, own)

    visit(tree, False, set())
    return found


def test_no_module_of_the_worker_but_internals_reads_a_private_faust_attribute() -> None:
    offenders = {str(path.relative_to(REPO)): private_reads(path.read_text(encoding="utf-8"))
                 for path in sorted((REPO / "agents").rglob("*.py")) if path != INTERNALS}
    assert {path: reads for path, reads in offenders.items() if reads} == {}


def test_the_scan_finds_reads_through_an_object_getattr_and_a_subclass() -> None:
    source = (
        "from faust.transport.drivers import aiokafka as faust_aiokafka\n"
        "class Ours:\n"
        "    def f(self, app):\n"
        "        return self._mine, app.consumer._committed_offset, getattr(app, '_acked', None)\n"
        "class Consumer(faust_aiokafka.Consumer):\n"
        "    def _new_offset(self, tp):\n"
        "        return self._acked[tp], super()._new_offset(tp), self._new_offset\n"
    )
    assert private_reads(source) == [
        "4: app.consumer._committed_offset",
        "4: getattr(app, '_acked', None)",
        "7: self._acked",
    ]
