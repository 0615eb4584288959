"""The goals as ratios, and the figures as a table for people (``--json`` for machines)."""

from __future__ import annotations

from typing import Any

from ticket_slo.streams.bench.cpu import OTHER

__all__ = ["goals", "render", "OPEN_STATE_KEYS", "API_P99_MS", "API_COST_RATIO", "API_CPU_RATIO", "API_INDEX_RATIO"]

#: The open-tickets phases, 24/7 then on business-hours plans (``scenarios``), small then large.
OPEN_STATE_KEYS = ("open_small", "open_large", "open_small_business", "open_large_business")
#: How the table's short cells mark a phase on business-hours plans.
_BUSINESS_MARK = " (bh)"
#: Status API goals: a request's p99 at 1,000,000 open tickets; the median of one customer's
#: open clocks at the large size against the small (the index: it must not grow with the total);
#: event throughput with the API on under load against off.
API_P99_MS = 10.0
API_INDEX_RATIO = 2.0
API_COST_RATIO = 0.95
API_CPU_RATIO = 1.05


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def goals(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of the issue: the figure reached, the target and the ratio from this run."""
    out: list[dict[str, Any]] = []
    python, pipe = figures.get("python_limit"), figures.get("pipeline")
    if python and pipe:
        ratio = _ratio(pipe["events_per_s"], python["events_per_s"])
        out.append({"goal": "pipeline / raw aiokafka passthrough", "figure": f"{pipe['events_per_s']:,.0f} / "
                    f"{python['events_per_s']:,.0f} events/s", "target": ">= 0.5 (stretch 0.7)", "ratio": ratio,
                    "met": ratio is not None and ratio >= 0.5})
    small, large = figures.get("open_small"), figures.get("open_large")
    out.extend(_open_state_goal(small, large, ""))
    out.extend(_open_state_goal(figures.get("open_small_business"), figures.get("open_large_business"),
                                ", business hours"))
    breaches = figures.get("breaches")
    if breaches:
        late = breaches["p99_after_deadline_plus_grace_s"]
        out.append({"goal": "breach p99 after deadline + grace", "figure": f"{late:.3f} s "
                    f"(p99 {breaches['delay_s']['p99']:.3f} s, grace {breaches['grace_s']:g} s)",
                    "target": "<= 1 s", "ratio": round(late / 1.0, 3), "met": late <= 1.0})
        ratio = breaches["exactly_once_ratio"]
        clean = breaches["duplicates"] == 0 and breaches["unexpected"] == 0
        out.append({"goal": "expected breaches emitted exactly once", "figure":
                    f"{breaches['exactly_once']:,} of {breaches['expected']:,} (dup {breaches['duplicates']}, "
                    f"missing {breaches['missing']}, unexpected {breaches['unexpected']})",
                    "target": "= 1.000", "ratio": ratio, "met": ratio == 1.0 and clean})
    out.extend(_api_goals(small, large, figures.get("api_cost")))
    if large:
        per_ticket = large["bytes_per_open_ticket"]
        out.append({"goal": f"resident memory per open ticket at {large['open_tickets']:,}",
                    "figure": f"{per_ticket:,.0f} B", "target": "<= 1024 B", "ratio": round(per_ticket / 1024, 3),
                    "met": per_ticket <= 1024})
        ratio = _ratio(large["restart_ready_s"], large["raw_changelog_read_s"])
        out.append({"goal": f"ready after restart / raw changelog read ({large['open_tickets']:,} open)",
                    "figure": f"{large['restart_ready_s']:.2f} s / {large['raw_changelog_read_s']:.2f} s",
                    "target": "<= 2", "ratio": ratio, "met": ratio is not None and ratio <= 2})
        cold = large.get("restart_without_snapshots")
        if cold:
            ratio = _ratio(cold["ready_s"], cold["raw_changelog_read_s"])
            out.append({"goal": "  the same without a local snapshot (crash, new machine)",
                        "figure": f"{cold['ready_s']:.2f} s / {cold['raw_changelog_read_s']:.2f} s",
                        "target": "<= 2", "ratio": ratio, "met": ratio is not None and ratio <= 2})
    return out


def _open_state_goal(small: dict[str, Any] | None, large: dict[str, Any] | None,
                     label: str) -> list[dict[str, Any]]:
    """Throughput with many open tickets against a few, on the same policy and ticket mix."""
    if not (small and large):
        return []
    a, b = large["drain"]["events_per_s"], small["drain"]["events_per_s"]
    ratio = _ratio(a, b)
    return [{"goal": f"throughput {large['open_tickets']:,} / {small['open_tickets']:,} open tickets{label}",
             "figure": f"{a:,.0f} / {b:,.0f} events/s", "target": ">= 0.9", "ratio": ratio,
             "met": ratio is not None and ratio >= 0.9}]


def _served_right(route: dict[str, Any], status: str = "200") -> bool:
    """Every request of ``route`` answered ``status`` with the right content."""
    return route["wrong_answers"] == 0 and route["statuses"] == {status: route["requests"]} and route["requests"] > 0


def _api_goals(small: dict[str, Any] | None, large: dict[str, Any] | None,
               cost: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The status API's goals: latency at the large size, no growth with the total, its cost."""
    out: list[dict[str, Any]] = []
    api = large.get("api") if large else None
    if api:
        n = f"{api['open_tickets']:,}"
        ticket, customer = api["ticket"], api["open_customer"]
        for route, name in ((ticket, "GET /api/tickets/{id}"), (customer, "GET /api/open?customer=")):
            out.append({"goal": f"{name} p99 at {n} open", "figure": f"{route['p99_ms']:.2f} ms (p50 "
                        f"{route['p50_ms']:.2f}, {route['requests']:,} requests, {route['wrong_answers']} wrong)",
                        "target": f"< {API_P99_MS:g} ms", "ratio": round(route["p99_ms"] / API_P99_MS, 3),
                        "met": route["p99_ms"] < API_P99_MS and _served_right(route)
                        and _served_right(api["unknown_ticket"], "404")})
        base = small.get("api") if small else None
        if base:
            a, b = customer["p50_ms"], base["open_customer"]["p50_ms"]
            ratio = _ratio(a, b)
            out.append({"goal": f"GET /api/open?customer= p50, {n} / {base['open_tickets']:,} open",
                        "figure": f"{a:.2f} / {b:.2f} ms ({api['customer_tickets']} tickets each)",
                        "target": f"<= {API_INDEX_RATIO:g}", "ratio": ratio,
                        "met": ratio is not None and ratio <= API_INDEX_RATIO and _served_right(base["open_customer"])})
    if cost and cost.get("ratio_on_to_off") is not None:
        rate = cost["median_events_per_s"]
        runs = {web: sum(1 for run in cost["runs"] if run["web"] == web) for web in ("on", "off")}
        ratio = cost["ratio_on_to_off"]
        out.append({"goal": "events/s with the status API under load / without",
                    "figure": f"{rate['on']:,.0f} / {rate['off']:,.0f} events/s (medians of {runs['on']}+"
                              f"{runs['off']})", "target": f">= {API_COST_RATIO:g} (cost < 5 %)",
                    "ratio": ratio, "met": ratio >= API_COST_RATIO})
        cpu = cost["median_worker_us_per_event"]
        if cost.get("cpu_cost") is not None:
            ratio = round(1 + cost["cpu_cost"], 4)
            out.append({"goal": "  worker CPU per event, the same runs",
                        "figure": f"{cpu['on']:.1f} / {cpu['off']:.1f} µs (medians)",
                        "target": f"<= {API_CPU_RATIO:g} (cost < 5 %)", "ratio": ratio,
                        "met": ratio <= API_CPU_RATIO})
    return out


def _worker_cpu_note(drain: dict[str, Any]) -> str:
    """The worker's CPU per drained event: unlike events/s, barely moved by other load on the machine."""
    seconds = drain.get("cpu", {}).get("cpu_s", {}).get("worker")
    if not seconds or not drain.get("events"):
        return ""
    return f"; worker CPU {seconds / drain['events'] * 1e6:.1f} µs/event"


def _business(key: str) -> bool:
    return key.endswith("_business")


def _cpu_rows(figures: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = []
    if "broker_limit" in figures:
        rows.append(("broker limit (perf tools)", figures["broker_limit"]["cpu"]))
    if "python_limit" in figures:
        rows.append(("python limit (passthrough)", figures["python_limit"]["cpu"]))
    if "engine_limit" in figures:
        rows.append(("engine limit (batch loop)", figures["engine_limit"]["cpu"]))
    if "pipeline" in figures:
        rows.append(("pipeline drain", figures["pipeline"]["cpu"]))
    for index, run in enumerate(figures.get("api_cost", {}).get("runs", []), 1):
        rows.append((f"api cost {index}: web {run['web']}", run["drain"]["cpu"]))
    for key in OPEN_STATE_KEYS:
        if key in figures:
            state = figures[key]
            n = f"{state['open_tickets']:,}"
            if _business(key):
                rows.append((f"load {n} open{_BUSINESS_MARK}", state["load_cpu"]))
                rows.append((f"restart {n} open{_BUSINESS_MARK}", state["drain"]["cpu_start"]))
                rows.append((f"drain with {n} open{_BUSINESS_MARK}", state["drain"]["cpu"]))
                continue
            rows.append((f"load {n} open tickets", state["load_cpu"]))
            rows.append((f"restart, recover {n}", state["drain"]["cpu_start"]))
            rows.append((f"drain with {n} open", state["drain"]["cpu"]))
            if state.get("api"):
                rows.append((f"status API, {n} open", state["api"]["cpu"]))
    if "breaches" in figures:
        rows.append(("breach timeliness (70%)", figures["breaches"]["cpu"]))
    if "catchup" in figures:
        rows.append(("catch-up: worker until killed", figures["catchup"]["first_worker"]["cpu"]))
        rows.append(("catch-up: restart to lag 0", figures["catchup"]["cpu"]))
    return rows


def _statuses(route: dict[str, Any]) -> str:
    return ", ".join(f"{count:,} x {status}" for status, count in route.get("statuses", {}).items()) or "none"


def _latency(route: dict[str, Any]) -> str:
    return (f"p50 {route['p50_ms']:.2f} ms, p90 {route['p90_ms']:.2f}, p99 {route['p99_ms']:.2f}, "
            f"max {route['max_ms']:.1f}")


def _wrong(route: dict[str, Any]) -> str:
    if not route.get("wrong_answers"):
        return ", all right"
    return f", {route['wrong_answers']} WRONG (e.g. {'; '.join(route['wrong_examples'][:2])})"


def _api_lines(small: dict[str, Any] | None, large: dict[str, Any] | None) -> list[str]:
    """The status API's latency on the open-tickets workers, and one customer's listing side by side."""
    lines: list[str] = []
    for state in (small, large):
        api = state.get("api") if state else None
        if not api:
            continue
        ticket, customer, unknown = api["ticket"], api["open_customer"], api["unknown_ticket"]
        lines.append(f"status API with {api['open_tickets']:,} open tickets, one request at a time on one connection "
                     f"({api['warm_up_requests']} untimed of each kind first; RSS {api.get('rss_mib', 0):.0f} MiB):")
        lines.append(f"  GET /api/tickets/{{id}} of random open tickets: {_latency(ticket)}; {_statuses(ticket)}"
                     f"{_wrong(ticket)}")
        lines.append(f"  GET /api/open?customer={api['customer']} ({api['customer_tickets']} open tickets): "
                     f"{_latency(customer)}; {_statuses(customer)}{_wrong(customer)}")
        lines.append(f"  GET /api/tickets/ of an unknown ticket: {_latency(unknown)}; {_statuses(unknown)}"
                     f"{_wrong(unknown)}")
    if small and large and small.get("api") and large.get("api"):
        a, b = large["api"]["open_customer"], small["api"]["open_customer"]
        lines.append(f"  GET /api/open?customer= at {large['open_tickets']:,} / {small['open_tickets']:,} open: "
                     f"p50 {a['p50_ms']:.2f} / {b['p50_ms']:.2f} ms ({_ratio(a['p50_ms'], b['p50_ms'])}), "
                     f"p99 {a['p99_ms']:.2f} / {b['p99_ms']:.2f} ms ({_ratio(a['p99_ms'], b['p99_ms'])})")
    return lines


def _api_cost_lines(cost: dict[str, Any]) -> list[str]:
    """Every run of the API-cost phase, then the medians and the cost."""
    asked = cost["load_asked_per_s"]
    lines = [f"status API cost: {cost['events']:,} events sent to a live worker (a new one each run), web API off, "
             f"or on under {asked['ticket']:g} GET /api/tickets/s + {asked['open_customer']:g} "
             f"GET /api/open?customer=/s (order {', '.join(cost['order'])}); timed from the first send to lag 0"]
    for index, run in enumerate(cost["runs"], 1):
        cpu = "-" if run["worker_us_per_event"] is None else f"{run['worker_us_per_event']:.1f}"
        label = f"  run {index}, web API {run['web']}:"
        line = f"{label:<22}{run['events_per_s']:>8,.0f} events/s, worker CPU {cpu} µs/event"
        load = run.get("load")
        if load:
            sent, routes = load["sent_per_s"], load["routes"]
            line += (f"; load {sent['ticket']:g} + {sent['open_customer']:g} req/s, GET /api/tickets "
                     f"{_latency(routes['ticket'])} ({_statuses(routes['ticket'])}), GET /api/open "
                     f"p50 {routes['open_customer']['p50_ms']:.2f} ms, max {routes['open_customer']['max_ms']:.1f}")
            if load.get("connection_errors"):
                line += f"; connection errors {load['connection_errors']}"
        lines.append(line)
    rate, cpu = cost["median_events_per_s"], cost["median_worker_us_per_event"]
    if cost.get("cost") is not None:
        cpu_note = "" if cost.get("cpu_cost") is None else (
            f"; worker CPU per event {cpu['on']:.1f} / {cpu['off']:.1f} µs ({cost['cpu_cost'] * 100:+.1f} %)")
        lines.append(f"  medians: on {rate['on']:,.0f} / off {rate['off']:,.0f} events/s: cost "
                     f"{cost['cost'] * 100:.1f} %{cpu_note}")
    if rate.get("idle") is not None:
        idle_cpu = "-" if cpu.get("idle") is None else f"{cpu['idle']:.1f}"
        lines.append(f"  web API on without requests (idle): median {rate['idle']:,.0f} events/s, worker CPU "
                     f"{idle_cpu} µs/event")
    return lines


def _catch_up_lines(catchup: dict[str, Any]) -> list[str]:
    """The crash and the catch-up, beside what it should have taken (informational: no goal)."""
    first = catchup["first_worker"]
    expected = "-" if catchup["expected_s"] is None else f"{catchup['expected_s']:.2f} s"
    ratio = "-" if catchup["ratio_to_expected"] is None else f"{catchup['ratio_to_expected']:.3f}"
    crash = (f"catch-up after a crash: {catchup['events']:,} events preloaded; worker killed (SIGKILL) "
             f"{first['killed_after_s']:.1f} s after launch with {first['committed_at_kill']:,} committed "
             f"(first output at {first['first_output_s']:.2f} s, {first['events_per_s']:,.0f} events/s), "
             f"{catchup['remaining_at_restart']:,} left; new worker launched {catchup['kill_to_launch_s']:.2f} s "
             f"later (session timeout {catchup['session_timeout_s']:g} s)")
    restart = (f"  restart to lag 0: {catchup['catch_up_s']:.2f} s; expected {expected} = restart "
               f"{catchup['restart_s']:.2f} s (to {catchup['restart_from']}; 'Ready' logged at "
               f"{catchup['restart_ready_log_s']:.2f} s, every partition's first output by "
               f"{catchup['restart_all_partitions_s']:.2f} s) + {catchup['remaining_at_restart']:,} events at "
               f"{catchup['drain_rate']:,.0f} events/s ({catchup['drain_rate_source']}); ratio {ratio} "
               f"(informational)")
    return [crash, restart]


def render(figures: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    add(f"ticket-slo bench ({figures['mode']}): broker {figures['bootstrap']}, {figures['partitions']} partitions, "
        f"events {figures['event_bytes_mean']:.0f} B on average, {figures['cores']} cores, "
        f"{figures['duration_s']:.0f} s")
    add("")
    add(f"{'throughput (same events, same partitions)':<46}{'events/s':>12}  note")
    broker = figures.get("broker_limit")
    if broker:
        lat = broker["producer_latency_ms"]
        add(f"{'  broker: Kafka ProducerPerformance':<46}{broker['producer_records_per_s']:>12,.0f}  "
            f"acks=all, {broker['records']:,} records, {broker['producer_mb_per_s']:.1f} MB/s, "
            f"p99 latency {lat.get('p99_latency_ms', 0):.0f} ms")
        add(f"{'  broker: Kafka ConsumerPerformance':<46}{broker['consumer_records_per_s']:>12,.0f}  "
            f"{broker['consumer_mb_per_s']:.1f} MB/s (fetch time, group join excluded)")
    python = figures.get("python_limit")
    if python:
        add(f"{'  python: raw aiokafka passthrough':<46}{python['events_per_s']:>12,.0f}  "
            f"{python['events']:,} events in {python['drain_s']:.1f} s to lag 0 "
            f"({python['events_per_s_to_last_write']:,.0f}/s to last write)")
    engine = figures.get("engine_limit")
    if engine:
        ratio = engine.get("ratio_to_python_limit")
        add(f"{'  python: batch loop around the engine':<46}{engine['events_per_s']:>12,.0f}  "
            f"{engine['events']:,} events in {engine['drain_s']:.1f} s to lag 0 "
            f"({engine['events_per_s_to_last_write']:,.0f}/s to last write)"
            + ("" if ratio is None else f"; {ratio:.3f} x passthrough"))
    pipe = figures.get("pipeline")
    if pipe:
        add(f"{'  pipeline: worker, empty state':<46}{pipe['events_per_s']:>12,.0f}  "
            f"{pipe['events']:,} events in {pipe['drain_s']:.1f} s to lag 0 "
            f"({pipe['events_per_s_to_last_write']:,.0f}/s to last write)")
    for key in OPEN_STATE_KEYS:
        state = figures.get(key)
        if state:
            drain = state["drain"]
            label = (f"  business hours: worker + {state['open_tickets']:,} open" if _business(key)
                     else f"  pipeline: worker + {state['open_tickets']:,} open tickets")
            add(f"{label:<46}"
                f"{drain['events_per_s']:>12,.0f}  {drain['events']:,} events in {drain['drain_s']:.1f} s to lag 0 "
                f"({drain['events_per_s_to_last_write']:,.0f}/s to last write{_worker_cpu_note(drain)})")
    breaches = figures.get("breaches")
    if breaches:
        add("")
        delay = breaches["delay_s"]
        add(f"breach timeliness at 70% of the pipeline's rate: {breaches['events_per_s']:,.0f} events/s for "
            f"{breaches['load_s']:.0f} s ({breaches['tickets']:,} tickets, targets "
            f"{'/'.join(str(v) for v in breaches['targets_s'].values())} s, grace {breaches['grace_s']:g} s, "
            f"tick {breaches['tick_interval_s']:g} s)")
        add(f"  emission - deadline: p50 {delay['p50']:.3f} s, p99 {delay['p99']:.3f} s, max {delay['max']:.3f} s, "
            f"min {delay['min']:.3f} s")
        add(f"  expected {breaches['expected']:,}, emitted {breaches['emitted']:,} "
            f"({breaches['distinct_breach_ids']:,} breach ids), exactly once {breaches['exactly_once']:,}, "
            f"missing {breaches['missing']}, duplicates {breaches['duplicates']}, unexpected "
            f"{breaches['unexpected']}; breached then retracted (stop processed after the breach) "
            f"{breaches['breached_then_retracted']}, breached again after a retraction "
            f"{breaches['breached_again_after_retraction']}")
    add("")
    if engine:
        per_event = engine["times"]["us_per_event"]
        loop = engine["loop"]
        add("engine loop time per event: " + ", ".join(f"{step} {value:.1f}" for step, value in per_event.items())
            + f" µs (batches of up to {loop['tuning']['max_records']:,} records; "
            f"{loop['changelog_records'] / max(loop['events'], 1):.2f} changelog writes per event)")
    if pipe:
        add(f"worker start with empty state: every partition processing after {pipe['ready_s']:.2f} s "
            f"('Ready' logged at {pipe['ready_log_s']:.2f} s, first output at {pipe['first_output_s']:.2f} s)")
    for key in OPEN_STATE_KEYS:
        state = figures.get(key)
        if state:
            on = f" on business-hours plans ({', '.join(state['plans'])})" if _business(key) else ""
            add(f"state with {state['open_tickets']:,} open tickets{on}: RSS {state['rss_mib_before']:.0f} -> "
                f"{state['rss_mib_after']:.0f} MiB = {state['bytes_per_open_ticket']:,.0f} B per ticket; "
                f"absorbed at {state['load_events_per_s']:,.0f} opens/s; restart ready in "
                f"{state['restart_ready_s']:.2f} s (all partitions processing; 'Ready' logged at "
                f"{state['restart_ready_log_s']:.2f} s, first output at {state['restart_first_output_s']:.2f} s) "
                f"vs raw read "
                f"of {state['changelog_records']:,} changelog records ({state['changelog_mib']:.1f} MiB) in "
                f"{state['raw_changelog_read_s']:.2f} s (the stopped worker's local snapshot read instead)")
            cold = state.get("restart_without_snapshots")
            if cold:
                add(f"  without a local snapshot: ready in {cold['ready_s']:.2f} s ('Ready' logged at "
                    f"{cold['ready_log_s']:.2f} s, first output at {cold['first_output_s']:.2f} s) vs raw read of "
                    f"{cold['changelog_records']:,} records ({cold['changelog_mib']:.1f} MiB) in "
                    f"{cold['raw_changelog_read_s']:.2f} s")
    catchup = figures.get("catchup")
    if catchup:
        lines.extend(_catch_up_lines(catchup))
    lines.extend(_api_lines(figures.get("open_small"), figures.get("open_large")))
    if figures.get("api_cost"):
        lines.extend(_api_cost_lines(figures["api_cost"]))
    add("")
    add(f"{'goal':<62}{'figure':<44}{'target':<22}{'ratio':>7}  met")
    for goal in figures.get("goals", []):
        ratio = "-" if goal["ratio"] is None else f"{goal['ratio']:.3f}"
        add(f"{goal['goal']:<62}{goal['figure']:<44}{goal['target']:<22}{ratio:>7}  {'yes' if goal['met'] else 'NO'}")
    add("")
    roles = {"broker": "broker", "bench": "bench", "worker": "worker", "passthrough": "passthrough",
             "engine loop": "engine loop", "kafka perf tool": "perf tools", OTHER: "other load"}
    if figures.get("api_cost"):  # the API cost's load generator, before "other load"
        roles = {**{k: v for k, v in roles.items() if k != OTHER}, "api load": "api load", OTHER: "other load"}
    add(f"CPU by phase: cpu-seconds (% of {figures['cores']} cores). bench = this process (load generator and "
        f"observer); other load = processes outside this run; broker pid {figures.get('broker_pid') or 'unknown'}; "
        f"load average at start {'/'.join(str(v) for v in figures.get('load_average_at_start', []))}"
        + (f";{_BUSINESS_MARK} = on business-hours plans" if any(_business(k) and k in figures
                                                                 for k in OPEN_STATE_KEYS) else ""))
    add(f"{'phase':<30}{'wall s':>7}" + "".join(f"{name:>15}" for name in roles.values()) + f"{'total':>7}")
    for name, cpu in _cpu_rows(figures):
        cells = []
        for role in roles:
            seconds = cpu["cpu_s"].get(role)
            if seconds is None:
                cells.append(f"{'-':>15}")
            else:
                share = cpu["pct_of_machine"][role]
                cells.append(f"{f'{seconds:.1f} ({share:.0f}%)':>15}")
        add(f"{name:<30}{cpu['wall_s']:>7.1f}" + "".join(cells) + f"{cpu['pct_of_machine_total']:>6.0f}%")
    for key in ("pipeline", *OPEN_STATE_KEYS):
        part = figures.get(key)
        drain = part.get("drain", part) if part else None
        if drain and drain.get("stalled"):
            add(f"STALLED in {key} (rate timed to the last changelog write instead of lag 0): {drain['stalled']}")
        if drain and drain.get("probe_outputs_missing"):
            add(f"MISSING OUTPUT in {key}: no slo.completed for probe(s) {', '.join(drain['probe_outputs_missing'])}")
    for key, error in figures.get("errors", {}).items():
        add(f"FAILED {key}: {error}")
    return "\n".join(lines)
