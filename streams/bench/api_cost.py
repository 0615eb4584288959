"""What serving the status API costs the event throughput: the pipeline's drain with the web API
off (``TICKET_SLO_WEB_ENABLED=false``), and on under a steady request load, interleaved.

One input is preloaded once: a probe per partition, ``api_load_open_tickets`` open tickets
(the ones the load asks for; ``API_CUSTOMER`` has a few of them), then the pipeline phase's
drained events. Each run is a new worker with an app id of its own (its own consumer
group, changelog and data directory) reading that same input from its start, so every run
does the same work, timed as the pipeline phase times its drain (``phases._drain``).
During an "on" run a separate process (``api_load``) sends ``GET /api/tickets/{id}`` and
``GET /api/open?customer=`` at fixed rates from the worker's 'Ready' to its lag zero.

The machine moves a drain by about ±5 % from one run to the next, as much as the cost to
be measured: the runs alternate (off, on, on, off by default: a drift of the machine weighs
on both sides alike), every run is reported, and the cost is taken between the medians.
The worker's CPU per drained event, which other load moves much less, is given beside it.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

from ticket_slo.streams.bench.context import BenchContext, Phase
from ticket_slo.streams.bench.kafka_io import produce, progress
from ticket_slo.streams.bench.lifecycle import API_CUSTOMER, Record, open_tickets
from ticket_slo.streams.bench.phases import _drain, _outcome_ends, _probe_records, _probes, throughput_events
from ticket_slo.streams.bench.plan import LONG_POLICY
from ticket_slo.streams.bench.processes import BenchError, Child
from ticket_slo.streams.kafka.topics import ensure_topics

__all__ = ["api_cost", "cost_summary", "worker_us_per_event", "OPEN_PREFIX"]

#: The ids of the open tickets the load asks for: ``{OPEN_PREFIX}{n:08d}``.
OPEN_PREFIX = "OPEN-apicost-"
_WEB = {"off": "false", "on": "true"}


def worker_us_per_event(drain: dict[str, Any]) -> float | None:
    """The worker's CPU per drained event, in µs (None when not measured)."""
    seconds = drain.get("cpu", {}).get("cpu_s", {}).get("worker")
    return round(seconds / drain["events"] * 1e6, 2) if seconds and drain.get("events") else None


def cost_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of the "off" and "on" runs and the cost between them (a share of the "off"
    figure: 0.03 is 3 % fewer events/s, or 3 % more worker CPU per event, with the API on)."""
    medians: dict[str, dict[str, float | None]] = {"events_per_s": {}, "worker_us_per_event": {}}
    for web in _WEB:
        mine = [run for run in runs if run["web"] == web]
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


def _run(ctx: BenchContext, source: Phase, index: int, web: str, probes: list[bytes], events: int) -> dict[str, Any]:
    """One drain of the shared input by a new worker, the web API ``web`` ("off" or "on" under load)."""
    order = ctx.plan.api_cost_order
    phase = ctx.phase(f"apicost{index}-{web}", LONG_POLICY, TICKET_SLO_TOPIC_PREFIX=source.settings.topic_prefix,
                      TICKET_SLO_WEB_ENABLED=_WEB[web])
    ensure_topics(phase.settings)
    offsets = _outcome_ends(phase)
    loads: list[Child] = []
    worker = ctx.start_worker(phase)
    what = f"api cost {index}/{len(order)}: web API {web}"
    try:
        drain = _drain(ctx, phase, worker, worker.started, events, probes, offsets, what,
                       (lambda: _start_load(ctx, phase, loads)) if web == "on" else None)
    finally:
        try:
            load = _stop_load(loads)
        finally:
            worker.terminate()
    progress(f"{what}: {drain['events_per_s']:,.0f} events/s")
    return {"web": web, "events_per_s": drain["events_per_s"], "worker_us_per_event": worker_us_per_event(drain),
            "drain": drain, "load": load}


def api_cost(ctx: BenchContext, batch: list[Record]) -> dict[str, Any]:
    """The drains of ``api_cost_order`` on one preloaded input; every run and the medians' cost."""
    plan = ctx.plan
    if set(plan.api_cost_order) != set(_WEB):
        raise BenchError(f"the API-cost phase needs runs with the web API off and on, got {plan.api_cost_order}")
    source = ctx.phase("apicost", LONG_POLICY)
    ensure_topics(source.settings)
    probes = _probes(source, "a")
    opens = list(open_tickets(plan.api_load_open_tickets, prefix=OPEN_PREFIX, at=time.time(),
                              customer_tickets=plan.api_customer_tickets))
    drained = throughput_events(ctx, batch)
    inputs: list[Record] = [*_probe_records(probes), *opens, *drained]
    progress(f"api cost: preloading {len(inputs)} events, drained {len(plan.api_cost_order)} times "
             f"({', '.join(plan.api_cost_order)})")
    produce(source.settings, source.settings.topics.events, inputs, what="preload", total=len(inputs))
    runs = [_run(ctx, source, index, web, probes, len(inputs)) for index, web in enumerate(plan.api_cost_order, 1)]
    return {
        "events": len(inputs),
        "open_tickets": len(opens),
        "order": list(plan.api_cost_order),
        "load_asked_per_s": {"ticket": plan.api_load_tickets_per_s, "open_customer": plan.api_load_open_per_s},
        "runs": runs,
        **cost_summary(runs),
    }
