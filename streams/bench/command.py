"""The ``ticket-slo bench`` command line; the benchmark itself loads only when it runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ticket_slo.streams.kafka.settings import Settings

__all__ = ["add_bench_command", "PHASES"]

#: The phases of a run, in the order they run.
PHASES = ("broker_limit", "python_limit", "engine_limit", "pipeline", "api_cost", "breaches", "catchup", "open_small",
          "open_large", "open_small_business", "open_large_business")


def _phase_list(text: str) -> frozenset[str]:
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(names - set(PHASES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown phase {', '.join(unknown) or repr(text)}; "
                                         f"choose from {', '.join(PHASES)}")
    return names


def add_bench_command(commands: Any) -> None:
    """Register ``bench`` on the CLI's sub-command parsers."""
    bench = commands.add_parser(
        "bench", help="measure the broker, a raw Python passthrough and the pipeline side by side",
        description="Measure on the local broker (or KAFKA_BOOTSTRAP_SERVERS), in one run: Kafka's own perf "
                    "tools, a raw aiokafka passthrough, a batch loop around the engine without Faust, the "
                    "worker's sustained rate with 0, 10 thousand and 1 million open tickets (24/7, then on business-hours "
                    "plans), the status API's latency at 10 thousand and 1 million open tickets and what serving it "
                    "costs the throughput, breach timeliness "
                    "at 70% load, catch-up after a crash (SIGKILL in a backlog), memory per open ticket and "
                    "restart time. A table on stdout (or --json), progress on stderr. About 11 minutes; --quick "
                    "under 2.")
    bench.add_argument("--quick", action="store_true", help="a reduced run (small sizes) that still gives every figure")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    bench.add_argument("--json-file", type=Path, help="also write the figures as JSON to this file")
    bench.add_argument("--partitions", type=int, help="partition count of every topic (default: TICKET_SLO_PARTITIONS)")
    bench.add_argument("--events", type=int, help="events of the throughput batch")
    bench.add_argument("--open-tickets", type=int, help="open tickets of the large-state runs (default 1000000)")
    bench.add_argument("--breach-seconds", type=float, help="seconds of load in the breach-timeliness phase")
    bench.add_argument("--profile", type=Path, help="py-spy the worker during each drain into this file (the "
                                                    "open-tickets phases: the phase's name added to its name; the API-cost drains: their number and web "
                                                    "mode; "
                                                    "needs py-spy; slows the worker down)")
    bench.add_argument("--only", type=_phase_list, metavar="PHASE[,PHASE]",
                       help=f"run only these phases ({', '.join(PHASES)}); for iterating on one figure")
    bench.add_argument("--keep", action="store_true",
                       help="keep the work directory (worker logs, policies), the run's topics and the broker")
    bench.add_argument("--broker-script", type=Path, metavar="PATH",
                       help="deploy/kafka/broker.py of a ticket-slo checkout, to start a local broker and find "
                            "Kafka's perf tools (default: $TICKET_SLO_BROKER_SCRIPT, else the checkout this "
                            "package runs from)")
    bench.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.streams.bench.kafka_tools import find_broker_script
    from ticket_slo.streams.bench.processes import BenchError
    from ticket_slo.streams.bench.runner import BenchOptions, run_bench

    try:
        options = BenchOptions(quick=args.quick, as_json=args.json, partitions=args.partitions, events=args.events,
                               open_tickets=args.open_tickets, breach_seconds=args.breach_seconds,
                               profile=args.profile, keep=args.keep, json_file=args.json_file,
                               only=args.only, broker_script=find_broker_script(args.broker_script))
        return run_bench(options, settings)
    except BenchError as exc:
        print(f"ticket-slo bench: {exc}", file=sys.stderr)
        return exc.exit_code
