"""The order of a benchmark run, the broker it uses, and the clean-up after it."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from ticket_slo.streams.bench import api_cost, breaches, catchup, phases
from ticket_slo.streams.bench.context import BenchContext
from ticket_slo.streams.bench.cpu import CpuLedger
from ticket_slo.streams.bench.kafka_io import delete_prefixed, progress
from ticket_slo.streams.bench.kafka_tools import CLASSPATH_NEEDS, require_broker_script
from ticket_slo.streams.bench.lifecycle import ALWAYS_ON_MIX, BATCH_PREFIX, Record, TicketMix, lifecycle_batch, mean_size
from ticket_slo.streams.bench.plan import BenchPlan, full_plan, quick_plan
from ticket_slo.streams.bench.processes import BenchError, BenchSetupError, ExternalProcess, MachineCpu, SelfProcess
from ticket_slo.streams.bench.report import goals, render
from ticket_slo.streams.bench.scenarios import ALWAYS_ON, BUSINESS_HOURS
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["run_bench", "BENCH_BROKER"]

#: The broker ``ticket-slo bench`` starts when KAFKA_BOOTSTRAP_SERVERS is not set.
BENCH_BROKER = "bench"
#: Why a run without KAFKA_BOOTSTRAP_SERVERS needs the broker script, and how to do without it.
_LOCAL_BROKER_NEEDS = ("start a local broker", "or set KAFKA_BOOTSTRAP_SERVERS to use a running one")


@dataclasses.dataclass(frozen=True, slots=True)
class BenchOptions:
    quick: bool = False
    as_json: bool = False
    partitions: int | None = None
    events: int | None = None
    open_tickets: int | None = None
    breach_seconds: float | None = None
    profile: Path | None = None
    keep: bool = False
    json_file: Path | None = None
    only: frozenset[str] | None = None  # phases to run; None: all of them
    broker_script: Path | None = None  # deploy/kafka/broker.py; None when there is none

    def runs(self, phase: str) -> bool:
        return self.only is None or phase in self.only


def _plan(options: BenchOptions) -> BenchPlan:
    plan = quick_plan() if options.quick else full_plan()
    changes: dict[str, Any] = {}
    if options.events:
        changes["events"] = options.events
    if options.open_tickets:
        changes["open_large"] = options.open_tickets
    if options.breach_seconds:
        changes["breach_load_seconds"] = options.breach_seconds
    return dataclasses.replace(plan, **changes)


def _preflight(options: BenchOptions, settings: Settings) -> None:
    """Refuse, before anything starts, a run that would fail for want of a script or a setting."""
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        require_broker_script(options.broker_script, *_LOCAL_BROKER_NEEDS)
    if options.runs("broker_limit"):
        if not os.environ.get("KAFKA_CLASSPATH"):
            require_broker_script(options.broker_script, *CLASSPATH_NEEDS)
        if settings.security_protocol != "PLAINTEXT":
            raise BenchSetupError(f"the broker_limit phase cannot run with KAFKA_SECURITY_PROTOCOL="
                                  f"{settings.security_protocol}: Kafka's perf tools get no TLS or SASL settings "
                                  f"from ticket-slo; leave the phase out with --only")


def _throughput_batch(plan: BenchPlan, mix: TicketMix) -> list[Record]:
    """The lifecycle batch every throughput phase drains (copies of it with renamed tickets)."""
    return lifecycle_batch(plan.events, prefix=BATCH_PREFIX, start=time.time() - plan.events * 0.001,
                           concurrent=plan.concurrent_tickets, mix=mix)


def _pipeline_rate(figures: dict[str, Any]) -> float | None:
    """The pipeline phase's events/s when it ran in this run: the catch-up's expected drain rate."""
    pipe = figures.get("pipeline")
    return float(pipe["events_per_s"]) if pipe and pipe.get("events_per_s") else None


def _broker_pid(bootstrap: str, broker_script: Path | None) -> int | None:
    """The pid of a local broker started by ``broker_script`` at ``bootstrap``, if any."""
    if broker_script is None:
        return None
    runs = broker_script.parent / ".cache" / "run"
    wanted = set(bootstrap.split(","))
    for run in sorted(runs.glob("*")) if runs.is_dir() else []:
        try:
            address = (run / "bootstrap").read_text().strip()
            pid = int((run / "broker.pid").read_text().strip())
        except (OSError, ValueError):
            continue
        if address in wanted and Path(f"/proc/{pid}").exists():
            return pid
    return None


def _start_broker(broker_script: Path) -> tuple[str, bool]:
    """Start (or find running) the bench's own local broker; (bootstrap, started by us)."""
    running = subprocess.run([sys.executable, str(broker_script), "status", "--name", BENCH_BROKER],
                             capture_output=True, text=True, timeout=60).returncode == 0
    progress(f"local broker '{BENCH_BROKER}': {'already running' if running else 'starting'}")
    started = subprocess.run([sys.executable, str(broker_script), "start", "--name", BENCH_BROKER],
                             capture_output=True, text=True, timeout=900)
    if started.returncode != 0 or not started.stdout.strip():
        raise BenchError(f"cannot start the local broker: {started.stderr.strip()[-1000:]}")
    return started.stdout.strip().splitlines()[-1], not running


def _stop_broker(broker_script: Path) -> None:
    subprocess.run([sys.executable, str(broker_script), "stop", "--name", BENCH_BROKER],
                   capture_output=True, text=True, timeout=120)


def _load_average() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return []


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_bench(options: BenchOptions, settings: Settings) -> int:
    plan = _plan(options)
    _preflight(options, settings)
    for noisy in ("ticket_slo.streams.kafka.topics", "aiokafka"):  # one line per created topic or subscription otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    own_broker = False
    script = options.broker_script
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        bootstrap = settings.bootstrap_servers
    else:
        bootstrap, own_broker = _start_broker(require_broker_script(script, *_LOCAL_BROKER_NEEDS))
    base = dataclasses.replace(settings, bootstrap_servers=bootstrap,
                               partitions=options.partitions or settings.partitions)
    workdir = Path(tempfile.mkdtemp(prefix="ticket-slo-bench-"))
    ledger = CpuLedger()
    ledger.track(SelfProcess(), from_zero=False)
    ledger.track(MachineCpu(), from_zero=False)
    broker_pid = _broker_pid(bootstrap, script)
    if broker_pid is not None:
        ledger.track(ExternalProcess(broker_pid, "broker"), from_zero=False)
    ctx = BenchContext(base, plan, f"bench-{uuid.uuid4().hex[:8]}-", workdir, ledger, broker_script=script)
    started = time.monotonic()
    batch = _throughput_batch(plan, ALWAYS_ON_MIX)
    batches = {ALWAYS_ON_MIX: batch}  # one per ticket mix, made when a phase first needs it
    figures: dict[str, Any] = {
        "mode": plan.name, "bootstrap": bootstrap, "partitions": base.partitions, "cores": ledger.cores,
        "event_bytes_mean": round(mean_size(batch), 1), "broker_pid": broker_pid, "bench_pid": os.getpid(),
        "run_prefix": ctx.run_prefix, "load_average_at_start": _load_average(),
    }
    progress(f"{plan.name} run on {bootstrap}: {base.partitions} partitions, {plan.events:,} events of "
             f"{figures['event_bytes_mean']:.0f} B, {plan.open_small:,}/{plan.open_large:,} open tickets; "
             f"work dir {workdir}")
    failed: BaseException | None = None
    errors: dict[str, str] = {}

    def measure(key: str, run: Callable[[], dict[str, Any]]) -> None:
        """One phase; a failure (a stalled worker, say) is recorded and the next phase runs."""
        if not options.runs(key):
            return
        try:
            figures[key] = run()
        except BenchError as exc:
            errors[key] = str(exc)
            progress(f"{key} FAILED: {exc}")
            ctx.stop_workers()

    try:
        measure("broker_limit", lambda: phases.broker_limit(ctx, batch))
        measure("python_limit", lambda: phases.python_limit(ctx, batch))
        measure("engine_limit", lambda: phases.engine_limit(ctx, batch, figures.get("python_limit")))
        measure("pipeline", lambda: phases.pipeline(ctx, batch, options.profile))
        measure("api_cost", lambda: api_cost.api_cost(ctx, batch, options.profile))
        if "pipeline" in figures:
            measure("breaches", lambda: breaches.breach_timeliness(ctx, figures["pipeline"]["events_per_s"]))
        elif options.only is not None and "breaches" in options.only:
            errors["breaches"] = "needs the pipeline phase's rate: add it to --only"
        measure("catchup", lambda: catchup.catch_up(ctx, batch, _pipeline_rate(figures)))
        for scenario in (ALWAYS_ON, BUSINESS_HOURS):
            for size, count in (("small", plan.open_small), ("large", plan.open_large)):
                if options.runs(scenario.key(size)) and scenario.mix not in batches:
                    batches[scenario.mix] = _throughput_batch(plan, scenario.mix)
                measure(scenario.key(size), lambda scenario=scenario, count=count:  # type: ignore[misc]
                        phases.open_state(ctx, batches[scenario.mix], count, scenario, options.profile,
                                          api=scenario is ALWAYS_ON))
    except KeyboardInterrupt as exc:
        failed = exc
    finally:
        ctx.stop_workers()
        figures["workers"] = ctx.worker_pids()
        if options.keep:
            progress(f"--keep: topics {ctx.run_prefix}* left on {bootstrap}"
                     + (f"; stop the broker with: python3 {script} stop --name {BENCH_BROKER}"
                        if own_broker else ""))
        else:
            try:
                deleted = delete_prefixed(base, ctx.run_prefix)
                progress(f"deleted {deleted} topics of this run")
            except Exception as exc:  # noqa: BLE001 - clean-up is best effort, the figures matter more
                progress(f"could not delete this run's topics: {exc}")
            if own_broker and script is not None:
                _stop_broker(script)
        if options.keep or failed is not None or errors:
            progress(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    figures["duration_s"] = round(time.monotonic() - started, 1)
    figures["load_average_at_end"] = _load_average()
    figures["goals"] = goals(figures)
    figures["errors"] = errors
    if isinstance(failed, KeyboardInterrupt):
        print(render(figures), file=sys.stderr)
        print("ticket-slo bench: interrupted", file=sys.stderr)
        return 130
    if options.json_file is not None:
        options.json_file.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2) if options.as_json else render(figures), flush=True)
    if errors:
        print(f"ticket-slo bench: {len(errors)} phase(s) failed: {', '.join(errors)}", file=sys.stderr)
        return 1
    return 0
