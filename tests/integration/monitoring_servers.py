"""Real Prometheus and Alertmanager servers for the integration tests, each on a free loopback
port in the test's own directory, and the queries the tests make of them."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tests.integration.worker_process import free_port

__all__ = ["running_server", "prometheus_server", "alertmanager_server", "prometheus_query", "prometheus_wait_for"]


@contextmanager
def running_server(what: str, command: list[str], port: int, log_path: Path, ready_within: float = 30.0) -> Iterator[str]:
    """Start ``command``, wait until ``/-/ready`` answers on ``port``; yield its base URL; stop it."""
    process = subprocess.Popen(command, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_within
        while True:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1)
                break
            except OSError:
                assert process.poll() is None, f"{what} exited:\n{log_path.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"{what} did not become ready within {ready_within:g} s"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(20)


@contextmanager
def prometheus_server(workdir: Path, rules: Path) -> Iterator[tuple[str, Path]]:
    """Prometheus scraping every second the targets the test writes to the yielded file, with
    the rule files in ``rules``: (base URL, targets file)."""
    binary = shutil.which("prometheus")
    assert binary, "the Prometheus server is missing: apt-get install prometheus"
    port = free_port()
    config = workdir / "prometheus.yml"
    targets = workdir / "targets.json"
    targets.write_text("[]")
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{rules}/*.yml"]
scrape_configs:
  - job_name: ticket-slo
    file_sd_configs: [{{files: ["{targets}"], refresh_interval: 1s}}]
""")
    command = [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
               f"--web.listen-address=127.0.0.1:{port}"]
    with running_server("Prometheus", command, port, workdir / "prometheus.log") as url:
        yield url, targets


@contextmanager
def alertmanager_server(workdir: Path, config: Path) -> Iterator[str]:
    """Debian's Alertmanager with ``config``, its own storage, clustering off: its base URL."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "Alertmanager is missing: apt-get install prometheus-alertmanager (make tools does)"
    port = free_port()
    command = [binary, f"--config.file={config}", f"--storage.path={workdir / 'alertmanager-data'}",
               f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    with running_server("Alertmanager", command, port, workdir / "alertmanager.log") as url:
        yield url


def prometheus_query(url: str, expr: str) -> list[dict[str, Any]]:
    """The result vector of an instant query."""
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def prometheus_wait_for(url: str, expr: str, timeout: float = 60) -> list[dict[str, Any]]:
    """The first non-empty result of ``expr`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = prometheus_query(url, expr)
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"Prometheus never answered {expr!r} within {timeout:g} s")
