"""How big a benchmark run is: the full run and the reduced ``--quick`` one."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["BenchPlan", "full_plan", "quick_plan", "LONG_POLICY", "breach_policy"]

#: Targets long enough that no clock fires during a run: open tickets just sit in state.
LONG_POLICY = """\
plans:
  default:
    warn_at: [0.5, 0.75, 0.9]
    objectives:
      first_response: {P1: 8h, P2: 10h, P3: 12h, P4: 16h}
"""


def breach_policy(targets: dict[str, int]) -> str:
    """A policy with seconds-scale targets, so deadlines fall during the breach phase."""
    objectives = ", ".join(f"{priority}: {seconds}s" for priority, seconds in targets.items())
    return ("plans:\n  default:\n    warn_at: [0.5]\n    objectives:\n"
            f"      first_response: {{{objectives}}}\n")


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """The sizes of one run; every figure is produced at any size."""

    name: str
    #: Events of the throughput batch (passthrough, pipeline, pipeline with open tickets).
    events: int
    #: Records sent and read by Kafka's own perf tools.
    perf_records: int
    #: Open tickets in state for the "small" and "large" state runs.
    open_small: int
    open_large: int
    #: Breach phase: seconds of load, and the targets (seconds) per priority.
    breach_load_seconds: float
    breach_targets: dict[str, int]
    #: Catch-up phase: the backlog a worker is killed in (SIGKILL) and restarted on.
    catchup_events: int
    #: Tickets in flight at once in the throughput batch (interleaving of lifecycles).
    concurrent_tickets: int = 2000
    #: Upper bound of any single wait (a worker start, a drain), seconds.
    wait_limit: float = 900.0
    #: A drain whose committed offsets do not move for this long has stalled, seconds.
    stall_after: float = 60.0
    #: Catch-up phase: the share of the backlog the group has committed when the worker is killed.
    catchup_kill_at: float = 1 / 3
    #: Catch-up phase: the workers' TICKET_SLO_SESSION_TIMEOUT, how long the restarted worker's group
    #: waits for the killed member; None keeps the worker's setting (30 s by default).
    catchup_session_timeout: float | None = None
    #: Status API, on the open-tickets workers (24/7): sequential ``GET /api/tickets/{id}`` of
    #: random open tickets, then ``GET /api/open?customer=`` of a customer with
    #: ``api_customer_tickets`` open tickets, at either size.
    api_ticket_requests: int = 2000
    api_open_requests: int = 300
    api_customer_tickets: int = 40
    #: API-cost phase: the order of its drains, the web API off or on under a steady load;
    #: interleaved (off, on, on, off twice) so that a drift of the machine weighs on both alike.
    #: Two runs of a kind differ by up to 7 % on the 2-core machine: four of each, and their
    #: medians, keep one slow run from deciding a 5 % goal (two of each did, 2026-11-30).
    api_cost_order: tuple[str, ...] = ("off", "on", "on", "off", "off", "on", "on", "off")
    #: API-cost phase: the load during an "on" drain, requests per second and route.
    api_load_tickets_per_s: float = 50.0
    api_load_open_per_s: float = 2.0
    #: API-cost phase: open tickets in its input (ahead of the drained events) that the load asks for.
    api_load_open_tickets: int = 1000


def full_plan() -> BenchPlan:
    return BenchPlan(
        name="full", events=120_000, perf_records=500_000, open_small=10_000, open_large=1_000_000,
        breach_load_seconds=60.0, breach_targets={"P1": 10, "P2": 15, "P3": 20, "P4": 30},
        catchup_events=100_000,
    )


def quick_plan() -> BenchPlan:
    return BenchPlan(
        name="quick", events=4_000, perf_records=20_000, open_small=1_000, open_large=10_000,
        breach_load_seconds=5.0, breach_targets={"P1": 3, "P2": 4, "P3": 5, "P4": 6},
        # Enough backlog that the first commit (1 s after the worker's first batch, about 35,000
        # events in) leaves a good part behind (with 15,000 the worker had drained it all, and
        # committed it, before the first commit); the broker's smallest session timeout, so that
        # the restart does not wait 30 s for the killed member.
        catchup_events=80_000, catchup_session_timeout=6.0,
        concurrent_tickets=200, wait_limit=90.0, stall_after=15.0,
        api_ticket_requests=200, api_open_requests=50, api_load_open_tickets=200,
        api_cost_order=("off", "on", "on", "off"),
    )


def scaled(plan: BenchPlan, **changes: object) -> BenchPlan:
    return replace(plan, **changes)  # type: ignore[arg-type]
