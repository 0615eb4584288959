"""Catch-up after a crash: a worker killed (SIGKILL) in a backlog, and how soon a new one has caught up.

A backlog of lifecycle events is preloaded; a worker works on it until the consumer
group has committed about a third of it (``catchup_kill_at``), and is then killed with
SIGKILL: no clean shutdown, no last commit. A new worker is launched at once and timed
from its launch until the group's committed offsets reach the end of the input (lag
zero), as every drain of the benchmark is timed.

Beside it, what the crash should cost if nothing but the work got in the way: the
restarted worker's own start (launch to its first output, else to 'Ready') plus the
backlog left at the kill (the end of the input minus the group's committed offsets) at
the drain rate (the pipeline phase's events/s in the same run, else the first worker's
rate before the kill). The ratio of the two is informational, not a goal. The restart
includes the wait for the killed member's session to expire (the group rebalances only
then), so the session timeout is reported with it. A worker that keeps its input
position with its state may resume after the group's offsets and have less left to do.

Only the worker's outside is used: its command and environment, the topics, the group's
offsets and the timestamps of its outputs, so the phase holds across rewrites of its
insides.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass

from ticket_slo.streams.bench.context import BenchContext, Phase
from ticket_slo.streams.bench.kafka_io import LagWatcher, find_keys, first_times, produce, progress
from ticket_slo.streams.bench.lifecycle import BATCH_PREFIX, Record, renamed_repeats
from ticket_slo.streams.bench.phases import _probe_records, _probes, _rate
from ticket_slo.streams.bench.plan import LONG_POLICY
from ticket_slo.streams.bench.processes import READY_MARKER, BenchError, WorkerChild
from ticket_slo.streams.kafka.topics import ensure_topics

__all__ = ["catch_up", "drain_rate", "expected_catch_up"]

WHAT = "catch-up"


def drain_rate(pipeline_rate: float | None, first_worker_rate: float) -> tuple[float, str]:
    """The rate the backlog should drain at, and where it comes from.

    The pipeline phase's rate of the same run when there is one (timed over a whole
    drain, on the same events), else the first worker's, timed over the part it
    committed before the kill.
    """
    if pipeline_rate:
        return pipeline_rate, "pipeline"
    return first_worker_rate, "first worker"


def expected_catch_up(restart_s: float, remaining: int, rate: float) -> float | None:
    """What a crash should cost: the restart, then the backlog left at the kill at ``rate``."""
    return restart_s + remaining / rate if rate > 0 else None


@dataclass(slots=True)
class _Watch:
    """Called on every poll of the group's offsets: samples the CPU, notes when the worker
    logged 'Ready', and stops the wait at once if the worker died."""

    ctx: BenchContext
    worker: WorkerChild
    what: str
    ready_at: float | None = None

    def __call__(self) -> None:
        self.ctx.ledger.sample()
        if self.ready_at is None and READY_MARKER in self.worker.log_text():
            self.ready_at = time.time()
        if self.worker.poll() is not None:
            raise BenchError(f"{self.what}: worker exited with {self.worker.returncode}:\n"
                             f"{self.worker.log_text()[-3000:]}")


@dataclass(frozen=True, slots=True)
class _Killed:
    """The first worker, up to its SIGKILL."""

    launched: float
    ready_at: float | None
    seen_at: float  # when the committed offsets were seen past the kill point
    committed_seen: int
    killed_at: float
    committed: int  # after the kill: where a new worker's group resumes
    outcome_ends: dict[int, int]  # the end of each outcomes partition after the kill
    cpu: dict[str, object]


@dataclass(frozen=True, slots=True)
class _Restarted:
    """The new worker, from its launch to lag zero."""

    launched: float
    ready_at: float
    zero_at: float
    cpu: dict[str, object]


def _phase(ctx: BenchContext) -> Phase:
    timeout = ctx.plan.catchup_session_timeout
    extra = {} if timeout is None else {"TICKET_SLO_SESSION_TIMEOUT": f"{timeout:g}"}
    return ctx.phase("catchup", LONG_POLICY, **extra)


def _wait_committed(ctx: BenchContext, watcher: LagWatcher, at_least: int, on_tick: _Watch) -> tuple[float, int]:
    """Poll the group's committed offsets until they add up to ``at_least``: (seen at, committed)."""
    started = time.monotonic()
    next_report = started + 5.0
    while True:
        committed = sum(watcher.committed().values())
        if committed >= at_least:
            return time.time(), committed
        now = time.monotonic()
        if now - started > ctx.plan.wait_limit:
            raise BenchError(f"{WHAT}: the first worker committed {committed} of the {at_least} events to kill it "
                             f"at within {ctx.plan.wait_limit:.0f}s")
        if now >= next_report:
            progress(f"  {WHAT}: {committed} of {at_least} committed")
            next_report += 5.0
        on_tick()
        time.sleep(0.1)


def _run_and_kill(ctx: BenchContext, phase: Phase, watcher: LagWatcher, outcomes: LagWatcher,
                  total: int) -> _Killed:
    """The first worker, killed with SIGKILL once its group committed ``catchup_kill_at`` of ``total``."""
    at_least = math.ceil(total * ctx.plan.catchup_kill_at)
    worker = ctx.start_worker(phase)
    watch = _Watch(ctx, worker, f"{WHAT}: first worker")
    ctx.ledger.begin(f"{WHAT}: first worker")
    seen_at, seen = _wait_committed(ctx, watcher, at_least, watch)
    worker.terminate(10, first=signal.SIGKILL)
    killed_at = time.time()
    cpu = ctx.ledger.end()
    # Read at once: the new worker is launched right after, as a supervisor would.
    committed = sum(watcher.committed().values())
    ends = {tp.partition: offset for tp, offset in outcomes.ends().items()}
    progress(f"{WHAT}: worker killed (SIGKILL) {killed_at - worker.started:.1f}s after launch, "
             f"{committed} of {total} committed; restarting")
    return _Killed(worker.started, watch.ready_at, seen_at, seen, killed_at, committed, ends, cpu.as_dict())


def _restart(ctx: BenchContext, phase: Phase, watcher: LagWatcher) -> _Restarted:
    """A new worker on the same group and data directory, from its launch to lag zero."""
    worker = ctx.start_worker(phase)
    watch = _Watch(ctx, worker, f"{WHAT}: restarted worker")
    ctx.ledger.begin(f"{WHAT}: restart to lag 0")
    try:
        # The group rebalances only once the killed member's session expired: no progress until then.
        zero_at = watcher.wait_zero(ctx.plan.wait_limit, what=WHAT, on_tick=watch,
                                    stall_after=ctx.plan.stall_after + phase.settings.session_timeout)
        ready_at = watch.ready_at if watch.ready_at is not None else ctx.wait_ready(worker)  # nothing was left
        cpu = ctx.ledger.end()
    finally:
        worker.terminate()
    return _Restarted(worker.started, ready_at, zero_at, cpu.as_dict())


def _probes_began(phase: Phase, probes: list[bytes]) -> float | None:
    """When the first worker began processing: its first probe output (the probes are first in line)."""
    settings = phase.settings
    starts = {phase.probe_partition(key): 0 for key in probes}
    found = find_keys(settings, settings.topics.outcomes, starts, set(probes), timeout=10)
    return min((record.timestamp / 1000 for record in found.values()), default=None)


def catch_up(ctx: BenchContext, batch: list[Record], pipeline_rate: float | None = None) -> dict[str, object]:
    """A worker killed in a backlog and the new worker's time to lag zero, against the expectation.

    ``pipeline_rate``: the pipeline phase's events/s of this run, the drain rate of the
    expectation when given.
    """
    phase = _phase(ctx)
    settings = phase.settings
    ensure_topics(settings)
    probes = _probes(phase, "a")
    backlog = _probe_records(probes) + list(renamed_repeats(batch, ctx.plan.catchup_events, prefix=BATCH_PREFIX))
    progress(f"{WHAT}: preloading a backlog of {len(backlog)} events")
    produce(settings, settings.topics.events, backlog, what="preload", total=len(backlog))
    watcher = LagWatcher(settings, settings.app_id, settings.topics.events, ctx.partitions)
    outcomes = LagWatcher(settings, settings.app_id, settings.topics.outcomes, ctx.partitions)
    try:
        killed = _run_and_kill(ctx, phase, watcher, outcomes, len(backlog))
        restarted = _restart(ctx, phase, watcher)
    finally:
        watcher.close()
        outcomes.close()
    remaining = len(backlog) - killed.committed
    progress(f"{WHAT}: lag 0 {restarted.zero_at - restarted.launched:.1f}s after the restart")
    return _figures(ctx, phase, probes, killed, restarted, len(backlog), remaining, pipeline_rate)


def _figures(ctx: BenchContext, phase: Phase, probes: list[bytes], killed: _Killed, restarted: _Restarted,
             events: int, remaining: int, pipeline_rate: float | None) -> dict[str, object]:
    """The phase's figures, from the outputs' timestamps and the offsets seen."""
    first_ready = killed.ready_at or killed.seen_at
    began = _probes_began(phase, probes) or first_ready
    first_rate = _rate(killed.committed_seen, killed.seen_at - began)
    rate, source = drain_rate(pipeline_rate, first_rate)
    # The restarted worker's first write to each outcomes partition after its launch.
    outputs = first_times(phase.settings, phase.settings.topics.outcomes, killed.outcome_ends,
                          since=restarted.launched)
    restart_began = min(outputs.values(), default=restarted.ready_at)
    restart_s = restart_began - restarted.launched
    catch_up_s = restarted.zero_at - restarted.launched
    expected = expected_catch_up(restart_s, remaining, rate)
    return {
        "events": events,
        "session_timeout_s": phase.settings.session_timeout,
        "first_worker": {
            "ready_log_s": round(first_ready - killed.launched, 2),
            "first_output_s": round(began - killed.launched, 2),
            "killed_after_s": round(killed.killed_at - killed.launched, 2),
            "committed_at_kill": killed.committed,
            "events_per_s": round(first_rate, 1),
            "cpu": killed.cpu,
        },
        "remaining_at_restart": remaining,
        "kill_to_launch_s": round(restarted.launched - killed.killed_at, 2),
        "restart_ready_log_s": round(restarted.ready_at - restarted.launched, 2),
        "restart_s": round(restart_s, 2),
        "restart_from": "first output" if outputs else "'Ready'",
        "restart_all_partitions_s": round(max(outputs.values(), default=restart_began) - restarted.launched, 2),
        "catch_up_s": round(catch_up_s, 2),
        "drain_rate": round(rate, 1),
        "drain_rate_source": source,
        "expected_s": None if expected is None else round(expected, 2),
        "ratio_to_expected": round(catch_up_s / expected, 3) if expected else None,
        "cpu": restarted.cpu,
    }
