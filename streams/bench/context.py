"""What every phase of a run shares: the broker, the plan, the run's prefix, the CPU ledger."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from ticket_slo.streams.bench.cpu import CpuLedger
from ticket_slo.streams.bench.kafka_io import partition_of
from ticket_slo.streams.bench.plan import BenchPlan
from ticket_slo.streams.bench.processes import READY_MARKER, BenchError, WorkerChild
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["BenchContext", "Phase"]


@dataclass(frozen=True, slots=True)
class Phase:
    """One isolated pipeline: its own topics, consumer group, data dir and policy."""

    name: str
    env: dict[str, str]
    settings: Settings

    @property
    def changelog(self) -> str:
        return f"{self.settings.app_id}-tickets-changelog"

    def probe_partition(self, key: bytes) -> int:
        return partition_of(key, self.settings.partitions)


@dataclass(slots=True)
class BenchContext:
    base: Settings
    plan: BenchPlan
    run_prefix: str
    workdir: Path
    ledger: CpuLedger
    broker_script: Path | None = None  # deploy/kafka/broker.py, when there is one
    figures: dict[str, object] = field(default_factory=dict)
    _workers: list[tuple[str, WorkerChild]] = field(default_factory=list)

    @property
    def partitions(self) -> int:
        return self.base.partitions

    def phase(self, name: str, policy: str, **extra_env: str) -> Phase:
        """Settings (as the worker's environment) of an isolated pipeline for one phase."""
        policy_path = self.workdir / f"{name}-policy.yaml"
        policy_path.write_text(policy)
        prefix = f"{self.run_prefix}{name}-"
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.base.bootstrap_servers,
            "TICKET_SLO_APP_ID": f"{prefix}app",
            "TICKET_SLO_TOPIC_PREFIX": prefix,
            "TICKET_SLO_PARTITIONS": str(self.partitions),
            "TICKET_SLO_DATA_DIR": str(self.workdir / f"{name}-data"),
            "TICKET_SLO_METRICS_PORT": "0",
            "TICKET_SLO_WEB_PORT": str(_free_port()),
            "TICKET_SLO_POLICY": str(policy_path),
            "TICKET_SLO_LOG_LEVEL": "info",
            **extra_env,
        }
        return Phase(name, env, Settings.from_env(env))

    def start_worker(self, phase: Phase, label: str = "worker") -> WorkerChild:
        worker = WorkerChild(phase.env, self.workdir / f"{phase.name}-worker.log", label=label)
        self._workers.append((phase.name, worker))
        self.ledger.track(worker)
        return worker

    def wait_ready(self, worker: WorkerChild) -> float:
        return worker.wait_for_log(READY_MARKER, self.plan.wait_limit, on_tick=self.ledger.sample)

    def worker_pids(self) -> list[dict[str, object]]:
        return [{"phase": name, "pid": worker.pid} for name, worker in self._workers]

    def stop_workers(self) -> None:
        for _, worker in self._workers:
            try:
                worker.terminate(timeout=20)
            except BenchError:
                pass


def _free_port() -> int:
    """A TCP port free now, for the phase worker's status API (the default port may be taken)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
