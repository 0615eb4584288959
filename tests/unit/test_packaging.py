"""The wheel that `pip install .` builds (the Docker image's install) holds the whole program.

An editable install reads the source tree, so a package missing from the wheel goes
unnoticed everywhere but in the image; this test builds the real wheel to catch it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shipped_packages() -> tuple[str, ...]:
    """The top-level packages pyproject.toml ships: its find patterns without the "*"."""
    with (REPO / "pyproject.toml").open("rb") as handle:
        patterns = tomllib.load(handle)["tool"]["setuptools"]["packages"]["find"]["include"]
    return tuple(pattern.rstrip("*") for pattern in patterns)


PACKAGES = shipped_packages()


def shipped_sources() -> set[str]:
    """Every module and data file of the packages, as paths relative to the repository."""
    files = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*"):
            if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
                files.add(path.relative_to(REPO).as_posix())
    return files


def copy_of_the_build_context(destination: Path) -> None:
    """What the Dockerfile copies, in a fresh directory: setuptools' build/ cache of an
    earlier build in the repository cannot fill the wheel's gaps."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, destination / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, destination / package, ignore=shutil.ignore_patterns("__pycache__"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip install .` builds from what the Dockerfile copies."""
    context = tmp_path_factory.mktemp("context")
    copy_of_the_build_context(context)
    wheels = tmp_path_factory.mktemp("wheels")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), str(context)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (found,) = wheels.glob("ticket_slo-*.whl")
    return found


def test_the_wheel_holds_every_module_and_the_default_policy(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = shipped_sources()
    assert "streams/bench/command.py" in expected and "schemas/default_policy.yaml" in expected
    missing = expected - names
    assert not missing, f"not in {wheel.name}: {sorted(missing)}"


def test_the_installed_wheel_runs_the_cli_without_the_source_tree(wheel: Path, tmp_path: Path) -> None:
    """As in the image: the program from the wheel alone, the dependencies beside it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    # The test environment's packages as a plain path entry: its .pth files (the editable
    # install of this repository among them) are not processed from there.
    dependencies = sysconfig.get_path("purelib")
    (site / "dependencies.pth").write_text(dependencies + "\n", encoding="utf-8")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(python), "-m", "streams.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})

    where = subprocess.run([str(python), "-c", "import streams, schemas, agents; print(streams.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    assert cli("worker", "--help").returncode == 0
    assert "slo.breached" in cli("schema").stdout
    replayed = cli("replay", str(REPO / "deploy" / "examples" / "events.jsonl"))
    assert replayed.returncode == 0, replayed.stderr
    assert '"type":"slo.completed"' in replayed.stdout  # the shipped default policy, read from the wheel
