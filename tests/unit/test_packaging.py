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


def package_dirs() -> dict[str, str]:
    """Import name → folder, from pyproject.toml's ``package-dir`` (``ticket_slo.streams`` → ``streams``)."""
    with (REPO / "pyproject.toml").open("rb") as handle:
        return dict(tomllib.load(handle)["tool"]["setuptools"]["package-dir"])


PACKAGE_DIRS = package_dirs()


def listed_packages() -> list[str]:
    with (REPO / "pyproject.toml").open("rb") as handle:
        return list(tomllib.load(handle)["tool"]["setuptools"]["packages"])


def import_name(path: Path) -> str:
    """``streams/core/engine.py`` → ``ticket_slo/streams/core/engine.py``: where the wheel puts it."""
    relative = path.relative_to(REPO)
    for name, folder in PACKAGE_DIRS.items():
        if relative.parts[0] == folder:
            return "/".join([*name.split("."), *relative.parts[1:]])
    raise AssertionError(f"{relative} is in no package folder")


def shipped_sources() -> dict[str, str]:
    """Every module and data file of the packages: path in the wheel → path in the repository."""
    files = {}
    for folder in PACKAGE_DIRS.values():
        for path in (REPO / folder).rglob("*"):
            if (path.suffix in (".py", ".yaml", ".css", ".js") or path.name == "py.typed") and "__pycache__" not in path.parts:
                files[import_name(path)] = path.relative_to(REPO).as_posix()
    return files


def copy_of_the_build_context(destination: Path) -> None:
    """What the Dockerfile copies, in a fresh directory: setuptools' build/ cache of an
    earlier build in the repository cannot fill the wheel's gaps."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, destination / name)
    for folder in PACKAGE_DIRS.values():
        shutil.copytree(REPO / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__"))


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


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """A subpackage missing from ``packages`` would be missing from the wheel (and the image)."""
    found = set()
    for name, folder in PACKAGE_DIRS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add(".".join([name, *init.parent.relative_to(REPO / folder).parts]))
    assert found == set(listed_packages())


def test_the_wheel_has_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/")[0] for name in archive.namelist()}
    assert {name for name in top if not name.endswith(".dist-info")} == {"ticket_slo"}
    assert not any(name.startswith("ticket_slo/__init__") for name in zipfile.ZipFile(wheel).namelist())


def test_the_wheel_holds_every_module_and_the_default_policy(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = shipped_sources()
    assert "ticket_slo/streams/bench/command.py" in expected
    assert "ticket_slo/schemas/default_policy.yaml" in expected and "ticket_slo/agents/py.typed" in expected
    assert "ticket_slo/streams/status/page.js" in expected and "ticket_slo/streams/status/page.css" in expected
    missing = set(expected) - names
    assert not missing, f"not in {wheel.name}: {sorted(missing)}"


def venv_with_dependencies(where: Path) -> Path:
    """A new virtual environment that sees the test environment's packages but not this
    repository: they are added as a plain path entry, whose .pth files (the editable install
    of this repository among them) are not processed."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=60)
    python = where / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    return where


def pip_install(venv: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                           "--no-deps", "--quiet", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def check_installed_cli(venv: Path, elsewhere: Path, source: Path) -> None:
    """The console script and the package, run from a directory that holds no source."""
    python, script = venv / "bin" / "python", venv / "bin" / "ticket-slo"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=elsewhere, capture_output=True, text=True, timeout=60, env=env)

    where = run(str(python), "-c", "import ticket_slo.streams as s; print(s.__file__)")
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(source)), where.stdout
    for generic in ("streams", "schemas", "agents"):
        probe = run(str(python), "-c", f"import {generic}")
        assert probe.returncode != 0, f"the install leaks a top-level {generic!r} package"
    assert run(str(script), "worker", "--help").returncode == 0
    assert "slo.breached" in run(str(script), "schema").stdout
    replayed = run(str(script), "replay", str(REPO / "deploy" / "examples" / "events.jsonl"))
    assert replayed.returncode == 0, replayed.stderr
    assert '"type":"slo.completed"' in replayed.stdout  # the shipped default policy, read from the install
    # No checkout, hence no deploy/kafka/broker.py: the benchmark says how to name one, before starting anything.
    bench = run(str(script), "bench", "--quick")
    assert bench.returncode == 2, bench.stderr
    assert bench.stderr.splitlines() == [
        "ticket-slo bench: no broker script to start a local broker: pass --broker-script PATH or set "
        "TICKET_SLO_BROKER_SCRIPT to deploy/kafka/broker.py of a ticket-slo checkout "
        "(or set KAFKA_BOOTSTRAP_SERVERS to use a running one)"]


def test_the_installed_wheel_runs_the_cli_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    """As in the image: the program from the wheel alone, the dependencies beside it."""
    venv = venv_with_dependencies(tmp_path / "venv")
    pip_install(venv, str(wheel))
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check_installed_cli(venv, elsewhere, site / "ticket_slo")


def test_an_editable_install_runs_the_cli_from_another_directory(tmp_path: Path) -> None:
    """As in development (`make` installs editable): the source folders, under one import name."""
    source = tmp_path / "source"
    source.mkdir()
    copy_of_the_build_context(source)
    venv = venv_with_dependencies(tmp_path / "venv")
    pip_install(venv, "--editable", str(source))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check_installed_cli(venv, elsewhere, source / "streams")
