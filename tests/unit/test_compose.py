"""docker-compose.yml and deploy/Dockerfile, checked without a Docker engine.

Our machines have the docker client only, so these tests read the files the way compose
and the builder would and check what would break `docker compose up`: missing host paths,
clashing ports, settings the worker does not know, a scrape target on the wrong port, an
image that cannot be built from the repository.

The helpers without a ``test_`` prefix are shared with tests/unit/test_grafana_dashboard.py.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ticket_slo.streams.kafka.settings import ENVIRONMENT

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"

PIPELINE_SERVICES = {"kafka", "topics", "worker", "simulator"}
MONITORING_SERVICES = {"prometheus", "alertmanager", "grafana"}
#: Services running the ticket-slo image, whose settings are ticket_slo.streams.kafka.settings.ENVIRONMENT.
TICKET_SLO_SERVICES = ("topics", "worker", "simulator")


# ---------------------------------------------------------------------------- compose helpers

def compose() -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)  # resolves the file's anchors and `<<` merges like compose
    assert isinstance(loaded, dict) and isinstance(loaded.get("services"), dict), "no services in compose"
    return loaded


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def environment(definition: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from the mapping or the list ("NAME=value") form."""
    env = definition.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


def bind_mounts(definition: dict[str, Any]) -> list[tuple[Path, PurePosixPath]]:
    """(host path, container path) of a service's bind mounts; named volumes are left out."""
    mounts = []
    for volume in definition.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") != "bind":
                continue
            source, target = volume["source"], volume["target"]
        else:
            source, target = volume.split(":")[:2]
            if not source.startswith((".", "/", "~")):
                continue  # a named volume
        mounts.append(((COMPOSE_FILE.parent / source).resolve(), PurePosixPath(target)))
    return mounts


def host_path_for(service_name: str, container_path: str) -> Path | None:
    """The file in the repository a container of the service sees at container_path."""
    wanted = PurePosixPath(container_path)
    for host, target in bind_mounts(service(service_name)):
        if wanted == target or target in wanted.parents:
            return host.joinpath(*wanted.relative_to(target).parts)
    return None


def published_ports(definition: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) of every published port of a service."""
    published = []
    for port in definition.get("ports", []):
        if isinstance(port, dict):
            if port.get("published") is not None:
                published.append((int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) >= 2 and parts[-2]:
            published.append((int(parts[-2]), int(parts[-1])))
    return published


def command_flag(definition: dict[str, Any], flag: str) -> str:
    command = definition.get("command", [])
    args = command if isinstance(command, list) else shlex.split(command)
    for arg in args:
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"command {args} has no {flag}=…")


# ---------------------------------------------------------------------------- Dockerfile

def dockerfile_path() -> Path:
    build = service("topics")["build"]
    return COMPOSE_FILE.parent / build["context"] / build["dockerfile"]


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, pending = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path}: a continuation line ends the file"
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in logical]


# ---------------------------------------------------------------------------- tests

def test_compose_parses_and_has_the_pipeline_and_monitoring_services() -> None:
    services = compose()["services"]
    assert PIPELINE_SERVICES | MONITORING_SERVICES <= set(services)
    assert service("simulator").get("profiles") == ["demo"], "the simulator is opt-in (--profile demo)"
    for name, definition in services.items():
        for dependency in definition.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def test_images_are_pinned_or_built_here() -> None:
    services = compose()["services"]
    built = {definition["image"] for definition in services.values() if "build" in definition}
    for name, definition in services.items():
        image = definition["image"]
        if image in built:
            continue  # compose builds it instead of pulling it (see the topics service)
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {image!r} is not a pinned version"


def test_every_bind_mounted_host_path_exists() -> None:
    config = compose()
    named = set(config.get("volumes") or {})
    mounted = 0
    for name, definition in config["services"].items():
        for host, _target in bind_mounts(definition):
            assert host.exists(), f"{name} mounts {host}, which does not exist"
            assert REPO in host.parents, f"{name} mounts {host}, outside the repository"
            mounted += 1
        for volume in definition.get("volumes", []):
            if isinstance(volume, str) and not volume.startswith((".", "/", "~")):
                assert volume.split(":")[0] in named, f"{name}: volume {volume!r} is not declared"
    assert mounted >= 4


def test_published_host_ports_are_unique() -> None:
    owners: dict[int, str] = {}
    for name, definition in compose()["services"].items():
        for host_port, _container_port in published_ports(definition):
            assert host_port not in owners, f"host port {host_port}: {owners[host_port]} and {name}"
            owners[host_port] = name
    assert {29092, 9090, 9093, 3000} <= set(owners)


def test_ticket_slo_containers_get_only_settings_the_worker_knows() -> None:
    checked = 0
    for name in TICKET_SLO_SERVICES:
        for variable in environment(service(name)):
            if variable.startswith(("TICKET_SLO_", "KAFKA_BOOTSTRAP")):
                assert variable in ENVIRONMENT, f"{name}: {variable} is not a setting (streams/kafka/settings.py)"
                checked += 1
    for instruction, arguments in dockerfile_instructions(dockerfile_path()):
        if instruction == "ENV":
            for variable in re.findall(r"(\w+)=", arguments):
                if variable.startswith("TICKET_SLO_"):
                    assert variable in ENVIRONMENT, f"Dockerfile ENV {variable} is not a setting"
                    checked += 1
    assert checked >= 3 * len(TICKET_SLO_SERVICES)


def test_prometheus_scrapes_every_worker_on_its_metrics_port() -> None:
    worker_env = environment(service("worker"))
    assert worker_env.get("TICKET_SLO_METRICS_ADDR") == "0.0.0.0", "metrics on 127.0.0.1 cannot be scraped"
    metrics_port = int(worker_env["TICKET_SLO_METRICS_PORT"])
    assert str(metrics_port) in [str(port) for port in service("worker").get("expose", [])]

    with PROMETHEUS_CONFIG.open(encoding="utf-8") as handle:
        scrape_configs = yaml.safe_load(handle)["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape_configs}
    assert "ticket-slo" in jobs, "the rules select job=\"ticket-slo\""
    targets: list[tuple[str, int]] = []
    for static in jobs["ticket-slo"].get("static_configs", []):
        targets += [(host, int(port)) for host, port in (t.rsplit(":", 1) for t in static["targets"])]
    for dns in jobs["ticket-slo"].get("dns_sd_configs", []):
        targets += [(name, int(dns["port"])) for name in dns["names"]]
    assert targets, "job ticket-slo has no target"
    assert targets == [("worker", metrics_port)] * len(targets)


def test_prometheus_and_alertmanager_read_the_repository_configs() -> None:
    prometheus_config = host_path_for("prometheus", command_flag(service("prometheus"), "--config.file"))
    assert prometheus_config == PROMETHEUS_CONFIG.resolve()
    alertmanager_config = host_path_for("alertmanager", command_flag(service("alertmanager"), "--config.file"))
    assert alertmanager_config == (REPO / "deploy" / "alertmanager" / "alertmanager.yml").resolve()
    assert alertmanager_config.is_file()

    with PROMETHEUS_CONFIG.open(encoding="utf-8") as handle:
        alerting = yaml.safe_load(handle)["alerting"]["alertmanagers"]
    targets = [target for manager in alerting for static in manager["static_configs"] for target in static["targets"]]
    assert targets == ["alertmanager:9093"]
    assert (9093, 9093) in published_ports(service("alertmanager"))
    # The 28-day SLO window needs 28 days of samples; Prometheus keeps 15 days by default.
    retention = command_flag(service("prometheus"), "--storage.tsdb.retention.time")
    assert retention.endswith("d") and int(retention[:-1]) >= 28


def test_the_build_context_and_dockerfile_exist() -> None:
    builds = [definition["build"] for definition in compose()["services"].values() if "build" in definition]
    assert builds, "nothing builds the ticket-slo image"
    for build in builds:
        context = COMPOSE_FILE.parent / build["context"]
        assert context.is_dir(), context
        assert (context / build["dockerfile"]).is_file(), build
    assert dockerfile_path().resolve() == (REPO / "deploy" / "Dockerfile").resolve()


def test_the_dockerfile_copies_every_package_and_runs_ticket_slo() -> None:
    instructions = dockerfile_instructions(dockerfile_path())
    context = COMPOSE_FILE.parent / service("topics")["build"]["context"]
    copied = set()
    for instruction, arguments in instructions:
        if instruction in ("COPY", "ADD") and "--from" not in arguments:
            *sources, _destination = [arg for arg in arguments.split() if not arg.startswith("--")]
            for source in sources:
                assert (context / source).exists(), f"{instruction} {source}: not in the build context"
                copied.add(source.rstrip("/"))
    with (REPO / "pyproject.toml").open("rb") as handle:
        pyproject = tomllib.load(handle)
    packages = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    needed = packages | {"pyproject.toml", pyproject["project"]["readme"]}
    assert needed <= copied, f"the image build misses {needed - copied}"

    entrypoints = [json.loads(arguments) for instruction, arguments in instructions if instruction == "ENTRYPOINT"]
    assert entrypoints[-1:] == [["ticket-slo"]]
    assert "ticket-slo" in pyproject["project"]["scripts"]
    exposed = {port for instruction, arguments in instructions if instruction == "EXPOSE"
               for port in arguments.split()}
    assert environment(service("worker"))["TICKET_SLO_METRICS_PORT"] in exposed


def test_services_without_build_reuse_an_image_built_here() -> None:
    services = compose()["services"]
    built = {definition["image"] for definition in services.values() if "build" in definition}
    for name in TICKET_SLO_SERVICES:
        assert services[name]["image"] in built, f"{name} would try to pull {services[name]['image']}"


def test_dockerfile_parser_joins_continuations_and_drops_comments(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('# c\nFROM x\nRUN a \\\n    && b\n\nENTRYPOINT ["t"]\n', encoding="utf-8")
    assert dockerfile_instructions(dockerfile) == [("FROM", "x"), ("RUN", "a      && b"),
                                                   ("ENTRYPOINT", '["t"]')]
