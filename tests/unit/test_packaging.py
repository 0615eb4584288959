"""The wheel that `pip install .` builds (the Docker image's install) holds the whole program.

An editable install reads the source tree, so a package missing from the wheel goes
unnoticed everywhere but in the image; this test builds the real wheel to catch it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "streams", "agents")


def shipped_sources() -> set[str]:
    """Every module and data file of the packages, as paths relative to the repository."""
    files = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*"):
            if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
                files.add(path.relative_to(REPO).as_posix())
    return files


def copy_of_the_build_context(destination: Path) -> Path:
    """What the Dockerfile copies, in a fresh directory: setuptools' build/ cache of an
    earlier build in the repository cannot fill the wheel's gaps."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, destination / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, destination / package, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def test_the_wheel_holds_every_module_and_the_default_policy(tmp_path: Path) -> None:
    (tmp_path / "context").mkdir()
    source = copy_of_the_build_context(tmp_path / "context")
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("ticket_slo-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = shipped_sources()
    assert "streams/bench/command.py" in expected and "schemas/default_policy.yaml" in expected
    missing = expected - names
    assert not missing, f"not in {wheel.name}: {sorted(missing)}"
