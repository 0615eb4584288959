"""The throughput measurements: broker limit, Python limit, engine limit, pipeline, pipeline with open tickets.

Every drain is measured the same way: the input is preloaded before the consumer
starts; the clock starts when the first input record is handled (the first probe
output for the worker, the first record for the passthrough and the engine loop) and
stops when the consumer group's committed offsets reach the end of the input (lag
zero), which every consumer commits on the same rhythm (every 2.8 s or 10 000
records). The time of the last write (the worker's last changelog record, the
passthrough's and the engine loop's last send) is kept too: it does not wait for the
commit timer.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ticket_slo.streams.bench import kafka_tools
from ticket_slo.streams.bench.api_latency import ApiAsk, measure_api
from ticket_slo.streams.bench.context import BenchContext, Phase
from ticket_slo.streams.bench.kafka_io import (LagWatcher, Stalled, create_topic, find_keys, first_record, last_record_times,
                                    produce, progress, read_changelog)
from ticket_slo.streams.bench.lifecycle import (API_CUSTOMER, BATCH_PREFIX, Record, customer_share, open_tickets,
                                                probe_events, renamed_repeats)
from ticket_slo.streams.bench.plan import LONG_POLICY
from ticket_slo.streams.bench.processes import BenchError, Child, WorkerChild
from ticket_slo.streams.bench.scenarios import ALWAYS_ON, Scenario
from ticket_slo.streams.kafka.local_snapshots import SNAPSHOT_DIR
from ticket_slo.streams.kafka.topics import TopicSpec, ensure_topics, pipeline_topics

__all__ = ["broker_limit", "throughput_events", "python_limit", "engine_limit", "pipeline", "open_state"]


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def broker_limit(ctx: BenchContext, batch: list[Record]) -> dict[str, object]:
    """Kafka's producer and consumer perf tools, same payloads and partition count."""
    topic = f"{ctx.run_prefix}perf"
    create_topic(ctx.base, topic, ctx.partitions)
    payloads = ctx.workdir / "payloads.txt"
    payloads.write_text("\n".join(value.decode() for _, value in batch[:5000]) + "\n")
    records = ctx.plan.perf_records
    classpath = kafka_tools.kafka_classpath(ctx.broker_script)
    ctx.ledger.begin("broker limit (Kafka perf tools)")
    progress(f"broker limit: ProducerPerformance, {records} records")
    produced = kafka_tools.producer_perf(ctx.base.bootstrap_servers, topic, records, payloads, classpath, ctx.ledger,
                                         ctx.plan.wait_limit)
    progress(f"broker limit: ConsumerPerformance, {records} records")
    consumed = kafka_tools.consumer_perf(ctx.base.bootstrap_servers, topic, records, f"{ctx.run_prefix}perf-group",
                                         classpath, ctx.ledger, ctx.plan.wait_limit)
    cpu = ctx.ledger.end()
    return {
        "records": records,
        "producer_records_per_s": round(produced.records_per_s, 1),
        "producer_mb_per_s": produced.mb_per_s,
        "producer_latency_ms": produced.detail,
        "consumer_records_per_s": round(consumed.records_per_s, 1),
        "consumer_mb_per_s": round(consumed.mb_per_s, 2),
        "consumer_detail": consumed.detail,
        "cpu": cpu.as_dict(),
    }


def throughput_events(ctx: BenchContext, batch: list[Record]) -> list[Record]:
    """What every throughput phase drains: as many events as the passthrough, the batch and then
    copies of it with renamed tickets (new work, not duplicates). A drain of the batch alone
    lasted 4 s once the worker read in batches, short enough for one pause of half a second
    to move a ratio by a tenth."""
    return list(renamed_repeats(batch, max(ctx.plan.perf_records, len(batch)), prefix=BATCH_PREFIX))


def python_limit(ctx: BenchContext, batch: list[Record]) -> dict[str, object]:
    """The raw aiokafka passthrough over the same events (the batch repeated to ``perf_records``)."""
    source, sink, group = (f"{ctx.run_prefix}passthrough-in", f"{ctx.run_prefix}passthrough-out",
                           f"{ctx.run_prefix}passthrough-group")
    create_topic(ctx.base, source, ctx.partitions)
    create_topic(ctx.base, sink, ctx.partitions)
    count = max(ctx.plan.perf_records, len(batch))
    records = (batch[i % len(batch)] for i in range(count))
    progress(f"python limit: preloading {count} events")
    produce(ctx.base, source, records, what="preload", total=count)
    watcher = LagWatcher(ctx.base, group, source, ctx.partitions)
    ctx.ledger.begin("python limit (aiokafka passthrough)")
    progress("python limit: aiokafka passthrough draining")
    child = Child([sys.executable, "-m", "ticket_slo.streams.bench.passthrough", ctx.base.bootstrap_servers, source, sink,
                   group, str(count)], label="passthrough", capture=True)
    zero_at, result = _child_drain(ctx, child, watcher, "passthrough")
    cpu = ctx.ledger.end()
    first, last = float(result["first_record_at"]), float(result["last_handled_at"])
    return {
        "events": count,
        "events_per_s": round(_rate(count, zero_at - first), 1),
        "events_per_s_to_last_write": round(_rate(count, last - first), 1),
        "drain_s": round(zero_at - first, 2),
        "cpu": cpu.as_dict(),
    }


def engine_limit(ctx: BenchContext, batch: list[Record], python: dict[str, object] | None = None,
                 tuning: Sequence[str] = ()) -> dict[str, object]:
    """A batch loop around the real engine, without Faust (``engine_loop``), over as many events as
    the passthrough: the batch, then copies of it with renamed tickets (new work, not duplicates).

    Timed as the passthrough is, from its first record to lag zero; ``python`` (the
    passthrough's figures of this run) gives the ratio. ``tuning``: extra options of
    ``engine_loop`` (``--max-records``, ``--linger-ms``…).
    """
    phase = ctx.phase("engine_limit", LONG_POLICY)
    settings = phase.settings
    ensure_topics(settings, [*pipeline_topics(settings),
                             TopicSpec(phase.changelog, settings.partitions, settings.replication_factor,
                                       {"cleanup.policy": "compact"})])
    count = max(ctx.plan.perf_records, len(batch))
    progress(f"engine limit: preloading {count} events")
    produce(settings, settings.topics.events, renamed_repeats(batch, count, prefix=BATCH_PREFIX), what="preload",
            total=count)
    watcher = LagWatcher(settings, settings.app_id, settings.topics.events, ctx.partitions)
    ctx.ledger.begin("engine limit (batch loop)")
    progress("engine limit: batch loop around the engine draining")
    child = Child([sys.executable, "-m", "ticket_slo.streams.bench.engine_loop", phase.changelog, settings.app_id,
                   str(count), *tuning], label="engine loop", env=phase.env, capture=True)
    zero_at, result = _child_drain(ctx, child, watcher, "engine loop")
    cpu = ctx.ledger.end()
    first, last = float(result["first_record_at"]), float(result["last_handled_at"])
    rate = _rate(count, zero_at - first)
    python_rate = float(python["events_per_s"]) if python else 0.0  # type: ignore[arg-type]
    return {
        "events": count,
        "events_per_s": round(rate, 1),
        "events_per_s_to_last_write": round(_rate(count, last - first), 1),
        "drain_s": round(zero_at - first, 2),
        "ratio_to_python_limit": round(rate / python_rate, 3) if python_rate else None,
        "loop": {key: result[key] for key in ("events", "invalid", "outputs", "changelog_records",
                                              "position_records", "batches", "partition_batches",
                                              "open_tickets_in_state", "tuning")},
        "times": result["times"],
        "cpu": cpu.as_dict(),
    }


def _child_drain(ctx: BenchContext, child: Child, watcher: LagWatcher, what: str) -> tuple[float, dict[str, Any]]:
    """Wait until ``child``'s group has no lag, then for its one JSON line: (lag zero at, result)."""
    ctx.ledger.track(child)
    try:
        zero_at = watcher.wait_zero(ctx.plan.wait_limit, what=what, on_tick=ctx.ledger.sample,
                                    stall_after=ctx.plan.stall_after)
        output = child.communicate(60)
    finally:
        watcher.close()
        child.terminate(5)
    try:
        return zero_at, json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(f"{what} gave no result:\n{output[-2000:]}") from None


def _drain(ctx: BenchContext, phase: Phase, worker: WorkerChild, launched: float, events: int,
           probes: list[bytes], probe_offsets: dict[int, int], what: str,
           on_ready: Callable[[], object] | None = None) -> dict[str, object]:
    """Wait until the worker is ready and its lag is zero; measure from the probes' outputs.

    There is one probe per partition, first in line: the first probe output is when
    processing began (the drain's start), the last one when every partition was
    processing (the worker's state recovered and every partition's engine built).
    """
    settings = phase.settings
    watcher = LagWatcher(settings, settings.app_id, settings.topics.events, ctx.partitions)
    try:
        ctx.ledger.begin(f"{what}: start and recovery")
        ready_at = ctx.wait_ready(worker)
        start_cpu = ctx.ledger.end()
        progress(f"{what}: worker ready after {ready_at - launched:.1f}s, draining {events} events")
        if on_ready is not None:
            on_ready()
        ctx.ledger.begin(f"{what}: drain")
        stalled: str | None = None
        try:
            zero_at: float | None = watcher.wait_zero(ctx.plan.wait_limit, what=what, on_tick=ctx.ledger.sample,
                                                      stall_after=ctx.plan.stall_after)
        except Stalled as exc:  # a worker bug, reported; the drain is then timed to its last write
            stalled, zero_at = str(exc), None
            progress(f"{what}: {exc}; timing the drain to the worker's last changelog write instead")
        rss = worker.rss()
        drain_cpu = ctx.ledger.end()
    finally:
        watcher.close()
    starts = {phase.probe_partition(key): probe_offsets.get(phase.probe_partition(key), 0) for key in probes}
    found = find_keys(settings, settings.topics.outcomes, starts, set(probes), timeout=10)
    outputs = [record.timestamp / 1000 for record in found.values()]
    # An output the worker should have published: reported, not fatal.
    missing = [key.decode() for key in probes if key not in found]
    if missing:
        progress(f"{what}: no outcome for probe(s) {', '.join(missing)}")
    # Without any probe output, the 'Ready' line is the best start we have.
    began, all_ready = (min(outputs), max(outputs)) if outputs else (ready_at, ready_at)
    last_write = last_record_times(settings, phase.changelog) or zero_at or began
    if zero_at is None:
        zero_at = last_write
    return {
        "events": events,
        "lag_zero": stalled is None,
        "stalled": stalled,
        "events_per_s": round(_rate(events, zero_at - began), 1),
        "events_per_s_to_last_write": round(_rate(events, last_write - began), 1),
        "drain_s": round(zero_at - began, 2),
        "ready_log_s": round(ready_at - launched, 2),
        "first_output_s": round(began - launched, 2),
        "ready_s": round(all_ready - launched, 2),
        "rss_mib_after": round((rss or 0) / 2**20, 1),
        "probe_outputs_missing": missing,
        "cpu_start": start_cpu.as_dict(),
        "cpu": drain_cpu.as_dict(),
    }


def _probes(phase: Phase, tag: str) -> list[bytes]:
    """One probe ticket id per partition (by Kafka's default partitioner)."""
    found: dict[int, bytes] = {}
    n = 0
    while len(found) < phase.settings.partitions:
        key = f"PROBE-{phase.name}-{tag}-{n}".encode()
        found.setdefault(phase.probe_partition(key), key)
        n += 1
    return [found[p] for p in sorted(found)]


def _probe_records(probes: list[bytes], plan: str = "default") -> list[Record]:
    now = time.time()
    return [record for key in probes for record in probe_events(key.decode(), now, plan)]


def _outcome_ends(phase: Phase) -> dict[int, int]:
    """Where the probes' outcomes will land: the end of each outcomes partition now."""
    watcher = LagWatcher(phase.settings, phase.settings.app_id, phase.settings.topics.outcomes,
                         phase.settings.partitions)
    try:
        return {tp.partition: offset for tp, offset in watcher.ends().items()}
    finally:
        watcher.close()


def pipeline(ctx: BenchContext, batch: list[Record], profile: Path | None = None) -> dict[str, object]:
    """The real worker draining the preloaded lifecycle mix, with nothing else in state.

    With ``profile``, py-spy samples the worker during the drain (which slows it down).
    """
    phase = ctx.phase("pipeline", LONG_POLICY)
    ensure_topics(phase.settings)
    probes = _probes(phase, "a")
    drained = throughput_events(ctx, batch)
    progress(f"pipeline: preloading {len(drained)} events")
    produce(phase.settings, phase.settings.topics.events, _probe_records(probes) + drained,
            what="preload", total=len(drained))
    worker = ctx.start_worker(phase)
    spies: list[Child] = []
    try:
        result = _drain(ctx, phase, worker, worker.started, len(drained) + 2 * len(probes), probes, {}, "pipeline",
                        _profiler_starter(worker, profile, spies))
    finally:
        _stop_profilers(spies)
        worker.terminate()
    if spies:
        result["profiled"] = str(profile)
    return result


def _profiler_starter(worker: WorkerChild, profile: Path | None, spies: list[Child]) -> Callable[[], None]:
    """What ``_drain`` calls once the worker is ready: py-spy on it, when a profile is asked for."""
    def start() -> None:
        if profile is not None:
            spies.extend(filter(None, [_start_profiler(worker, profile)]))
    return start


def _stop_profilers(spies: list[Child]) -> None:
    for spy in spies:
        spy.interrupt(30)


def open_state(ctx: BenchContext, batch: list[Record], count: int,
               scenario: Scenario = ALWAYS_ON, profile: Path | None = None, api: bool = False) -> dict[str, object]:
    """N open tickets in state: memory per ticket, restart time against a raw changelog read,
    then the same drain as ``pipeline`` on top of them; with ``api``, then the status API's
    latency on that worker (``api_latency``).

    With ``profile``, py-spy samples the restarted worker during the drain, into ``profile``
    with the phase's name added (``drain.txt`` → ``drain-open1000000-business.txt``).

    ``scenario`` gives the policy and the open tickets' plans and times; ``batch`` (what
    is drained) should be made with the same mix. Probes go on the scenario's first plan,
    so that the restarted worker has built its calendars before the drain's clock starts.
    """
    name = f"open{count}{scenario.suffix.replace('_', '-')}"
    phase = ctx.phase(name, scenario.policy)
    settings = phase.settings
    ensure_topics(settings)
    what = f"{count} open" + (f", {scenario.label}" if scenario.label else "")
    probe_plan = scenario.mix.plans[0]
    first_key = f"PROBE-{name}-a".encode()
    produce(settings, settings.topics.events, probe_events(first_key.decode(), time.time(), probe_plan), what="probe")
    worker = ctx.start_worker(phase)
    ctx.wait_ready(worker)
    if first_record(settings, settings.topics.outcomes, phase.probe_partition(first_key), 0, first_key,
                    timeout=60) is None:
        raise BenchError(f"{what}: the first worker never processed its probe")
    time.sleep(1.0)
    rss_before = worker.rss() or 0
    progress(f"{what}: worker up ({rss_before / 2**20:.0f} MiB); loading {count} open tickets")
    watcher = LagWatcher(settings, settings.app_id, settings.topics.events, ctx.partitions)
    ctx.ledger.begin(f"{what}: loading open tickets")
    started = time.time()
    try:
        produce(settings, settings.topics.events,
                open_tickets(count, prefix=f"OPEN-{name}-", at=time.time(), mix=scenario.mix,
                             customer_tickets=ctx.plan.api_customer_tickets),
                what="open tickets", total=count)
        absorbed_at = watcher.wait_zero(ctx.plan.wait_limit * 2, what=f"{what}: absorbing", on_tick=ctx.ledger.sample,
                                     stall_after=ctx.plan.stall_after)
    finally:
        watcher.close()
    load_cpu = ctx.ledger.end()
    time.sleep(2.0)  # let the last changelog batches and the commit settle
    rss_after = worker.rss() or 0
    peak = worker.rss_peak() or 0
    progress(f"{what}: absorbed in {absorbed_at - started:.1f}s, RSS {rss_after / 2**20:.0f} MiB; restarting")
    stop_started = time.monotonic()
    worker.terminate()
    stop_s = time.monotonic() - stop_started
    records, read_s, read_bytes = read_changelog(settings, phase.changelog)
    progress(f"{what}: raw read of {phase.changelog}: {records} records in {read_s:.2f}s")
    probes = _probes(phase, "b")
    probe_offsets = _outcome_ends(phase)
    drained = throughput_events(ctx, batch)
    produce(settings, settings.topics.events, _probe_records(probes, probe_plan) + drained, what="preload",
            total=len(drained))
    restarted = ctx.start_worker(phase)
    spies: list[Child] = []
    profile_out = None if profile is None else profile.with_name(f"{profile.stem}-{name}{profile.suffix}")
    api_figures: dict[str, object] | None = None
    try:
        drain = _drain(ctx, phase, restarted, restarted.started, len(drained) + 2 * len(probes), probes, probe_offsets,
                       what, _profiler_starter(restarted, profile_out, spies))
        if spies:
            drain["profiled"] = str(profile_out)
        _stop_profilers(spies)
        spies.clear()
        if api and settings.web_enabled:  # TICKET_SLO_WEB_ENABLED=false in the bench's environment: no API
            api_figures = _status_api(ctx, phase, restarted, name, count, what, profile)
    finally:
        _stop_profilers(spies)
        restarted.terminate()
    cold = _restart_without_snapshots(ctx, phase, what, probe_plan) if scenario.cold_restart else None
    return {
        "open_tickets": count,
        "scenario": scenario.label or "24/7",
        "plans": list(scenario.mix.plans),
        "spread_s": scenario.mix.spread_s,
        "load_s": round(absorbed_at - started, 2),
        "load_events_per_s": round(_rate(count, absorbed_at - started), 1),
        "rss_mib_before": round(rss_before / 2**20, 1),
        "rss_mib_after": round(rss_after / 2**20, 1),
        "rss_peak_mib": round(peak / 2**20, 1),
        "bytes_per_open_ticket": round((rss_after - rss_before) / count, 1),
        "stop_s": round(stop_s, 2),
        "changelog_records": records,
        "changelog_mib": round(read_bytes / 2**20, 1),
        "raw_changelog_read_s": round(read_s, 3),
        "restart_ready_s": drain["ready_s"],
        "restart_ready_log_s": drain["ready_log_s"],
        "restart_first_output_s": drain["first_output_s"],
        "restart_without_snapshots": cold,
        "load_cpu": load_cpu.as_dict(),
        "drain": drain,
        "api": api_figures,
    }


def _status_api(ctx: BenchContext, phase: Phase, worker: WorkerChild, name: str, count: int, what: str,
                profile: Path | None) -> dict[str, object]:
    """The status API of the worker holding the phase's ``count`` open tickets, once its drain is over.

    With ``profile``, py-spy samples the worker meanwhile (``drain.txt`` → ``drain-api-open1000000.txt``).
    """
    plan = ctx.plan
    ask = ApiAsk(prefix=f"OPEN-{name}-", open_tickets=count, customer=API_CUSTOMER,
                 customer_tickets=len(customer_share(count, plan.api_customer_tickets)),
                 ticket_requests=plan.api_ticket_requests, open_requests=plan.api_open_requests)
    progress(f"{what}: status API, {ask.ticket_requests} GET /api/tickets/{{id}} and {ask.open_requests} "
             f"GET /api/open?customer={ask.customer} at {phase.web_url}")
    spies: list[Child] = []
    profile_out = None if profile is None else profile.with_name(f"{profile.stem}-api-{name}{profile.suffix}")
    ctx.ledger.begin(f"{what}: status API")
    try:
        _profiler_starter(worker, profile_out, spies)()
        figures = measure_api(phase.web_url, ask, wait_limit=plan.wait_limit, on_tick=ctx.ledger.sample)
    finally:
        _stop_profilers(spies)
    figures["cpu"] = ctx.ledger.end().as_dict()
    figures["rss_mib"] = round((worker.rss() or 0) / 2**20, 1)
    if spies:
        figures["profiled"] = str(profile_out)
    ticket, customer = figures["ticket"], figures["open_customer"]
    progress(f"{what}: GET /api/tickets p50 {ticket['p50_ms']:.2f} ms, p99 {ticket['p99_ms']:.2f} ms; "
             f"GET /api/open?customer= p50 {customer['p50_ms']:.2f} ms, p99 {customer['p99_ms']:.2f} ms")
    return figures


def _restart_without_snapshots(ctx: BenchContext, phase: Phase, what: str, probe_plan: str) -> dict[str, object]:
    """The restart after a crash or on a new machine: no local snapshot, the whole changelog
    read (raw, then by the worker), with only the probes waiting."""
    settings = phase.settings
    shutil.rmtree(settings.data_dir / SNAPSHOT_DIR, ignore_errors=True)
    records, read_s, read_bytes = read_changelog(settings, phase.changelog)
    progress(f"{what}, no local snapshot: raw read of {records} changelog records in {read_s:.2f}s")
    probes = _probes(phase, "c")
    probe_offsets = _outcome_ends(phase)
    produce(settings, settings.topics.events, _probe_records(probes, probe_plan), what="probes")
    worker = ctx.start_worker(phase)
    try:
        drain = _drain(ctx, phase, worker, worker.started, 2 * len(probes), probes, probe_offsets,
                       f"{what}, no local snapshot")
    finally:
        worker.terminate()
    return {
        "changelog_records": records,
        "changelog_mib": round(read_bytes / 2**20, 1),
        "raw_changelog_read_s": round(read_s, 3),
        "ready_s": drain["ready_s"],
        "ready_log_s": drain["ready_log_s"],
        "first_output_s": drain["first_output_s"],
        "probe_outputs_missing": drain["probe_outputs_missing"],
    }


def _start_profiler(worker: WorkerChild, out: Path) -> Child | None:
    """py-spy on the restarted worker, when it is installed (an investigation aid, not a dependency)."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        progress("profile: py-spy is not installed (pip install py-spy); skipping")
        return None
    progress(f"profile: py-spy recording the worker into {out}")
    return Child([spy, "record", "-p", str(worker.pid), "-r", "50", "-f", "raw", "-o", str(out), "--nonblocking"],
                 label="profiler", log_path=out.with_suffix(".log"))
