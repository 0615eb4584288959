"""What serving the status API costs the event throughput: a live worker's drain with the web API
off (``TICKET_SLO_WEB_ENABLED=false``), and on under a steady request load, interleaved.

A worker answers the API only for partitions that are live: while it catches up with the
backlog it found at its assignment it answers 503, which costs next to nothing. A
preloaded drain (the pipeline phase's) is all catch-up, so it cannot show what answering
costs. Here each run's worker starts on a nearly empty input (a probe per partition and
``api_load_open_tickets`` open tickets, the ones the load asks for; ``API_CUSTOMER`` has a
few), is live once the probes' outputs are out (with the API on: once
``GET /api/open?customer=`` is served), and then the pipeline phase's events are sent to it
as fast as the benchmark's producer goes; the drain is timed from the first send to lag
zero. During an "on" run a separate process (``api_load``) sends ``GET /api/tickets/{id}``
and ``GET /api/open?customer=`` at fixed rates from before the first send to lag zero.
The producer shares the machine with the worker, alike in every run.

The machine moves a drain by about ±5 % from one run to the next, as much as the cost to
be measured: the runs alternate (off, on, on, off, twice, by default: a drift of the machine
weighs on both sides alike), every run is reported, and the cost is taken between the medians.
The worker's CPU per drained event, which other load moves much less, is given beside it.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ticket_slo.streams.bench.api_client import ApiConnection, open_path
from ticket_slo.streams.bench.context import BenchContext, Phase
from ticket_slo.streams.bench.kafka_io import LagWatcher, find_keys, last_record_times, produce, progress
from ticket_slo.streams.bench.lifecycle import API_CUSTOMER, Record, open_tickets
from ticket_slo.streams.bench.phases import (_probe_records, _probes, _profiler_starter, _rate, _stop_profilers,
                                             throughput_events)
from ticket_slo.streams.bench.plan import LONG_POLICY
from ticket_slo.streams.bench.processes import BenchError, Child
from ticket_slo.streams.kafka.topics import ensure_topics

__all__ = ["api_cost", "cost_summary", "worker_us_per_event", "OPEN_PREFIX"]

#: The ids of the open tickets the load asks for: ``{OPEN_PREFIX}{n:08d}``.
OPEN_PREFIX = "OPEN-apicost-"
#: How a run's worker serves: "off" without the web server, "on" with it under the load,
#: "idle" with it and no request (what keeping the API's index costs by itself; not in the
#: default order, for investigations).
_WEB = {"off": "false", "on": "true", "idle": "true"}


def worker_us_per_event(drain: dict[str, Any]) -> float | None:
    """The worker's CPU per drained event, in µs (None when not measured)."""
    seconds = drain.get("cpu", {}).get("cpu_s", {}).get("worker")
    return round(seconds / drain["events"] * 1e6, 2) if seconds and drain.get("events") else None


def cost_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of the "off", "on" (and "idle") runs and the cost between "on" and "off" (a share
    of the "off" figure: 0.03 is 3 % fewer events/s, or 3 % more worker CPU per event, with the
    API on)."""
    medians: dict[str, dict[str, float | None]] = {"events_per_s": {}, "worker_us_per_event": {}}
    for web in _WEB:
        mine = [run for run in runs if run["web"] == web]
        if not mine and web == "idle":
            continue
        for figure in medians:
            values = [run[figure] for run in mine if run[figure] is not None]
            medians[figure][web] = round(statistics.median(values), 2) if values else None
    rate, cpu = medians["events_per_s"], medians["worker_us_per_event"]
    return {
        "median_events_per_s": rate,
        "median_worker_us_per_event": cpu,
        "ratio_on_to_off": round(rate["on"] / rate["off"], 4) if rate["on"] and rate["off"] else None,
        "cost": round(1 - rate["on"] / rate["off"], 4) if rate["on"] and rate["off"] else None,
        "cpu_cost": round(cpu["on"] / cpu["off"] - 1, 4) if cpu["on"] and cpu["off"] else None,
    }


def _start_load(ctx: BenchContext, phase: Phase, loads: list[Child]) -> None:
    plan = ctx.plan
    child = Child([sys.executable, "-m", "ticket_slo.streams.bench.api_load", phase.web_url,
                   "--ticket-prefix", OPEN_PREFIX, "--tickets", str(plan.api_load_open_tickets),
                   "--customer", API_CUSTOMER, "--tickets-per-s", str(plan.api_load_tickets_per_s),
                   "--open-per-s", str(plan.api_load_open_per_s)], label="api load", capture=True)
    ctx.ledger.track(child)
    loads.append(child)


def _stop_load(loads: list[Child]) -> dict[str, Any] | None:
    """SIGINT to the load, and its one JSON line."""
    for child in loads:
        child.interrupt(30)
        output = child.communicate(10)
        try:
            return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]
        except (ValueError, IndexError):
            raise BenchError(f"the API load gave no result:\n{output[-2000:]}") from None
    return None


def _settle(ctx: BenchContext, phase: Phase, probes: list[bytes], web: str) -> None:
    """Until the worker is live: its probes' outputs are out and, with the API on, the API serves
    (every partition caught up and indexed); then a second more for its first commit."""
    settings = phase.settings
    found = find_keys(settings, settings.topics.outcomes, {phase.probe_partition(key): 0 for key in probes},
                      set(probes), timeout=ctx.plan.wait_limit)
    if len(found) < len(probes):
        raise BenchError(f"{phase.name}: the worker published no outcome for {len(probes) - len(found)} probe(s)")
    if web != "off":
        with ApiConnection(phase.web_url) as api:
            api.wait_until_served(open_path(customer=API_CUSTOMER), ctx.plan.wait_limit, on_tick=ctx.ledger.sample)
    time.sleep(1.0)


def _run(ctx: BenchContext, index: int, web: str, drained: list[Record], profile: Path | None) -> dict[str, Any]:
    """One live worker, the web API ``web`` ("off", or "on" under load), and ``drained`` sent to it;
    with ``profile``, py-spy samples the worker during the drain (``cost.txt`` → ``cost-2-on.txt``)."""
    plan = ctx.plan
    what = f"api cost {index}/{len(plan.api_cost_order)}: web API {web}"
    phase = ctx.phase(f"apicost{index}-{web}", LONG_POLICY, TICKET_SLO_WEB_ENABLED=_WEB[web])
    settings = phase.settings
    ensure_topics(settings)
    probes = _probes(phase, "a")
    opens = open_tickets(plan.api_load_open_tickets, prefix=OPEN_PREFIX, at=time.time(),
                         customer_tickets=plan.api_customer_tickets)
    produce(settings, settings.topics.events, [*_probe_records(probes), *opens], what="probes and open tickets")
    loads: list[Child] = []
    spies: list[Child] = []
    profile_out = None if profile is None else profile.with_name(f"{profile.stem}-{index}-{web}{profile.suffix}")
    worker = ctx.start_worker(phase)
    watcher = LagWatcher(settings, settings.app_id, settings.topics.events, ctx.partitions)
    try:
        ctx.wait_ready(worker)
        _settle(ctx, phase, probes, web)
        if web == "on":
            _start_load(ctx, phase, loads)
            time.sleep(1.0)  # the load at its pace before the first event is sent
        progress(f"{what}: worker live; sending {len(drained):,} events")
        ctx.ledger.begin(f"{what}: live drain")
        _profiler_starter(worker, profile_out, spies)()
        started = time.time()
        _, send_s = produce(settings, settings.topics.events, drained, what="live input", total=len(drained))
        zero_at = watcher.wait_zero(plan.wait_limit, what=what, on_tick=ctx.ledger.sample,
                                    stall_after=plan.stall_after)
        cpu = ctx.ledger.end().as_dict()
        rss = worker.rss()
    finally:
        _stop_profilers(spies)
        watcher.close()
        try:
            load = _stop_load(loads)
        finally:
            worker.terminate()
    last_write = last_record_times(settings, phase.changelog) or zero_at
    drain = {"events": len(drained), "drain_s": round(zero_at - started, 2), "send_s": round(send_s, 2),
             "events_per_s": round(_rate(len(drained), zero_at - started), 1),
             "events_per_s_to_last_write": round(_rate(len(drained), last_write - started), 1),
             "rss_mib_after": round((rss or 0) / 2**20, 1), "cpu": cpu}
    progress(f"{what}: {drain['events_per_s']:,.0f} events/s")
    if spies:
        drain["profiled"] = str(profile_out)
    return {"web": web, "events_per_s": drain["events_per_s"], "worker_us_per_event": worker_us_per_event(drain),
            "drain": drain, "load": load}


def api_cost(ctx: BenchContext, batch: list[Record], profile: Path | None = None) -> dict[str, Any]:
    """The live drains of ``api_cost_order``; every run and the medians' cost (with ``profile``,
    each drain py-spied, which slows the worker: for finding where the cost goes, not its size)."""
    plan = ctx.plan
    if not {"off", "on"} <= set(plan.api_cost_order) or not set(plan.api_cost_order) <= set(_WEB):
        raise BenchError(f"the API-cost phase needs runs with the web API off and on (and may have idle ones), "
                         f"got {plan.api_cost_order}")
    drained = throughput_events(ctx, batch)
    progress(f"api cost: {len(drained):,} events sent to a live worker {len(plan.api_cost_order)} times "
             f"(web API {', '.join(plan.api_cost_order)})")
    runs = [_run(ctx, index, web, drained, profile) for index, web in enumerate(plan.api_cost_order, 1)]
    return {
        "events": len(drained),
        "open_tickets": plan.api_load_open_tickets,
        "order": list(plan.api_cost_order),
        "load_asked_per_s": {"ticket": plan.api_load_tickets_per_s, "open_customer": plan.api_load_open_per_s},
        "runs": runs,
        **cost_summary(runs),
    }
