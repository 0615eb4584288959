"""The ``ticket-slo`` command line: the tools around the worker.

The program's entry point is ``ticket_slo.agents.cli``, which adds the ``worker``
command (the only one that needs Faust) to the commands defined here.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, TextIO

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.tools.arguments import OneLineParser, number_between, rfc3339_time
from ticket_slo.streams.tools.files import close_written, create_text, open_text, output_directory, write_text

if TYPE_CHECKING:
    from ticket_slo.schemas.policy import Policy

__all__ = ["main", "load_policy_of", "AddCommand"]

#: Adds one subcommand to the parser's subparsers (the worker's is added by the agents).
AddCommand = Callable[[Any], None]

#: Tickets the simulator may keep open at once (about --rate x 5 x --response-scale), so
#: that its queue of future events stays within tens of megabytes.
MAX_SIMULATED_OPEN_TICKETS = 100_000


def main(argv: Sequence[str] | None = None, extra_commands: Sequence[AddCommand] = ()) -> int:
    """Run one command; a ``TicketSloError`` ends it with one line on stderr and its exit code."""
    try:
        parser = _parser(extra_commands)
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # kafka-python narrates every connection at INFO; the user needs its warnings only.
        logging.getLogger("kafka").setLevel(logging.WARNING)
        settings = Settings.from_env()
        return int(args.handler(args, settings) or 0)
    except TicketSloError as exc:
        print(f"ticket-slo: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`| head`): stop quietly, as a killed pipe would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _parser(extra_commands: Sequence[AddCommand] = ()) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ticket-slo",
        description="Watch support tickets against their service-level objectives, on Kafka.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for add_command in extra_commands:
        add_command(commands)

    replay = commands.add_parser(
        "replay", help="run the engine over a JSON-lines file of events, no Kafka; outputs on stdout")
    replay.add_argument("events", help="file of events, one JSON object per line ('-' for stdin)")
    replay.add_argument("--policy", type=Path, help="SLO policy file (default: $TICKET_SLO_POLICY or the shipped one)")
    replay.add_argument("--until", type=rfc3339_time, help="RFC 3339 time to advance the clock to at the end")
    replay.add_argument("--dead-letters", type=Path,
                        help="write dead-letter records to this file (default: stderr)")
    replay.set_defaults(handler=_replay)

    _add_whatif(commands)

    publish = commands.add_parser("publish", help="publish a JSON-lines file of events to ticket-events")
    publish.add_argument("events", type=Path, help="file of events, one JSON object per line")
    publish.set_defaults(handler=_publish)

    schema = commands.add_parser("schema", help="print the JSON Schema of every input and output")
    schema.add_argument("--out", type=Path, help="write one NAME.schema.json file per schema into this directory")
    schema.set_defaults(handler=_schema)

    topics = commands.add_parser("topics", help="create the pipeline's topics and check partition counts")
    topics.set_defaults(handler=_topics)

    simulate = commands.add_parser("simulate", help="publish simulated ticket lifecycles to ticket-events")
    simulate.add_argument("--rate", default=2.0,
                          type=number_between(0, 1000, low_allowed=False, what="a rate above 0 and at most 1000"),
                          help="tickets opened per second, above 0 and at most 1000 (default 2)")
    simulate.add_argument("--response-scale", default=20.0,
                          type=number_between(0, 86400, low_allowed=False,
                                              what="a number of seconds above 0 and at most 86400"),
                          help="mean seconds to first response, above 0 and at most 86400 (default 20)")
    simulate.add_argument("--duration", default=0.0,
                          type=number_between(0, math.inf, low_allowed=True,
                                              what="a finite number of seconds, 0 or more (0: until interrupted)"),
                          help="seconds to run; 0 runs until interrupted (default 0)")
    simulate.add_argument("--seed", type=int, default=7)
    simulate.set_defaults(handler=_simulate)

    tail = commands.add_parser("tail", help="follow a pipeline topic in the terminal, one line per record")
    tail.add_argument("topic", help="breaches, warnings, outcomes, dlq or events")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    tail.set_defaults(handler=_tail)

    _add_report(commands)

    bridge = commands.add_parser(
        "alert-bridge", help="keep one Alertmanager alert per breached ticket, from the output topics")
    bridge.add_argument("--policy", type=Path,
                        help="SLO policy file, for each plan's last warning (default: $TICKET_SLO_POLICY or the shipped one)")
    bridge.set_defaults(handler=_alert_bridge)

    from ticket_slo.streams.bench.command import add_bench_command  # the benchmark itself loads only when run

    add_bench_command(commands)
    return parser


def load_policy_of(args: argparse.Namespace, settings: Settings) -> Policy:
    from ticket_slo.schemas.policy import DEFAULT_POLICY_PATH, load_policy

    return load_policy(args.policy or settings.policy_path or DEFAULT_POLICY_PATH)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.streams.tools.replay import replay

    policy = load_policy_of(args, settings)
    source = sys.stdin if args.events == "-" else open_text(args.events, "events file")
    with source:
        dead_letters: TextIO = (create_text(args.dead_letters, "dead-letter file") if args.dead_letters
                                else sys.stderr)
        try:
            summary = replay(source, "stdin" if args.events == "-" else args.events, policy,
                             sys.stdout, dead_letters, until=args.until,
                             orphan_timeout=settings.orphan_timeout)
        except BrokenPipeError:
            raise
        except OSError as exc:  # a read that fails half-way (an I/O error, a file turned directory)
            raise TicketSloError(f"replay stopped: {exc.strerror or exc}") from None
        finally:
            if args.dead_letters:
                close_written(dead_letters, "dead-letter file")
    sys.stdout.flush()
    print("replay: " + ", ".join(f"{k} {v}" for k, v in summary.as_dict().items()), file=sys.stderr)
    return 0


def _add_whatif(commands: Any) -> None:
    from ticket_slo.streams.tools.whatif_report import DOCUMENT_SHAPE

    whatif = commands.add_parser(
        "whatif", help="replay a file of events under two or more policies and compare the results",
        description="Replay the same events under each policy, as 'replay' does, and print per plan, objective "
                    "and priority the tickets completed, the attainment (met / completed), the breaches still "
                    "standing and the median response under each, then the tickets whose result differs.",
        epilog="--json prints one document:\n" + DOCUMENT_SHAPE + "\n", formatter_class=argparse.RawDescriptionHelpFormatter)
    whatif.add_argument("events", help="file of events, one JSON object per line ('-' for stdin)")
    whatif.add_argument("--policy", type=Path, action="append", default=[], required=True,
                        help="a policy file to compare; give two or more")
    whatif.add_argument("--until", type=rfc3339_time, help="RFC 3339 time to advance each replay's clock to at the end")
    whatif.add_argument("--json", action="store_true", help="print one JSON document instead of the tables")
    whatif.set_defaults(handler=_whatif)


def _whatif(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.schemas.policy import load_policy
    from ticket_slo.streams.tools.whatif import compare, policy_labels
    from ticket_slo.streams.tools.whatif_report import as_document, dead_letter_lines, render_text

    if len(args.policy) < 2:
        raise TicketSloError(f"whatif: give at least two --policy files to compare (got {len(args.policy)})")
    paths = [str(path) for path in args.policy]
    policies = list(zip(policy_labels(paths), map(load_policy, args.policy)))
    source = sys.stdin if args.events == "-" else open_text(args.events, "events file")
    with source:
        try:
            lines = list(source)
        except OSError as exc:  # a read that fails half-way (an I/O error, a file turned directory)
            raise TicketSloError(f"whatif stopped: {exc.strerror or exc}") from None
    source_name = "stdin" if args.events == "-" else args.events
    comparison = compare(lines, source_name, policies, args.until, orphan_timeout=settings.orphan_timeout)
    if args.json:
        print(json.dumps(as_document(comparison, paths, args.until), indent=2))
    else:
        sys.stdout.write(render_text(comparison, paths, args.until))
    sys.stdout.flush()
    for line in dead_letter_lines(comparison):
        print(f"whatif: not used: {line}", file=sys.stderr)
    summary = comparison.input
    print(f"whatif: lines {summary.lines}, valid {summary.valid}, invalid {summary.invalid}, "
          f"orphans {summary.orphans}, policies {len(policies)}", file=sys.stderr)
    return 0


def _add_report(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="write the period's SLA report for a customer as one printable HTML file",
        description="Read the outcomes and breaches topics (or --outcomes/--breaches files as 'replay' prints "
                    "them) and write one self-contained HTML report. An outcome belongs to the period by its "
                    "stopped_at, a breach by its deadline; the period is [--from, --to).")
    report.add_argument("--from", dest="start", required=True, metavar="DATE",
                        help="first day of the period, YYYY-MM-DD (UTC) or an RFC 3339 time")
    report.add_argument("--to", dest="end", required=True, metavar="DATE",
                        help="the day after the period, YYYY-MM-DD (UTC) or an RFC 3339 time")
    report.add_argument("--customer", help="only this customer's tickets")
    report.add_argument("--account-manager", help="only the customers of this account manager")
    report.add_argument("--outcomes", type=Path, help="JSON-lines file of outcomes instead of the topic")
    report.add_argument("--breaches", type=Path, help="JSON-lines file of breaches and retractions instead of the topic")
    report.add_argument("--policy", type=Path,
                        help="SLO policy file, for the account managers' contracts (default: $TICKET_SLO_POLICY or the shipped one)")
    report.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.streams.tools.sla_report import ReportRequest, run_report

    files = [path for path in (args.outcomes, args.breaches) if path is not None]
    request = ReportRequest(args.start, args.end, args.out, customer=args.customer,
                            account_manager=args.account_manager, files=files)
    return run_report(request, load_policy_of(args, settings), settings)


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.streams.kafka.topics import ensure_topics
    from ticket_slo.streams.tools.publish import publish_lines, read_event_lines

    lines = read_event_lines(args.events)
    # Created here with the pipeline's partition count, never auto-created with the broker's.
    ensure_topics(settings)
    return publish_lines(lines, args.events, settings)


def _schema(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.schemas.export import json_schemas

    schemas = json_schemas()
    if args.out is None:
        print(json.dumps(schemas, indent=2, sort_keys=True))
        return 0
    directory = output_directory(args.out, "schemas")
    for name, schema in schemas.items():
        write_text(directory / f"{name}.schema.json", json.dumps(schema, indent=2, sort_keys=True) + "\n", "schema")
    print(f"wrote {len(schemas)} schemas to {args.out}", file=sys.stderr)
    return 0


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.streams.kafka.topics import ensure_topics, pipeline_topics

    created = ensure_topics(settings)
    for spec in pipeline_topics(settings):
        state = "created" if spec.name in created else "exists"
        print(f"{spec.name}\t{spec.partitions} partitions\t{state}")
    return 0


def _tail(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.streams.kafka.clients import make_consumer

    topics = settings.topics.by_short_name()
    if args.topic not in topics:
        raise TicketSloError(f"tail: unknown topic {args.topic!r}; choose one of {', '.join(topics)}")
    topic = topics[args.topic]
    consumer = make_consumer(settings, from_beginning=args.from_beginning)
    try:
        if topic not in consumer.topics():
            raise TicketSloError(f"tail: topic {topic!r} does not exist at {settings.bootstrap_servers}; "
                                 f"create the pipeline's topics with 'ticket-slo topics' "
                                 f"(or check TICKET_SLO_TOPIC_PREFIX)")
        consumer.subscribe([topic])
        for record in consumer:
            key = record.key.decode(errors="replace") if record.key else "-"
            value = "(no value)" if record.value is None else record.value.decode(errors="replace")
            print(f"{record.partition}:{record.offset}\t{key}\t{value}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


def _alert_bridge(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.streams.tools.alert_bridge import run_alert_bridge

    return run_alert_bridge(load_policy_of(args, settings), settings)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.streams.kafka.clients import make_producer
    from ticket_slo.streams.tools.simulator import SimulatorConfig, TicketSimulator

    from ticket_slo.streams.kafka.topics import ensure_topics

    open_tickets = args.rate * 5 * args.response_scale
    if open_tickets > MAX_SIMULATED_OPEN_TICKETS:
        raise TicketSloError(f"simulate: --rate {args.rate:g} with --response-scale {args.response_scale:g} would "
                             f"keep about {open_tickets:,.0f} tickets open at once; keep it under "
                             f"{MAX_SIMULATED_OPEN_TICKETS:,} (rate x 5 x response scale)")
    ensure_topics(settings)
    config = SimulatorConfig(tickets_per_second=args.rate, response_scale=args.response_scale, seed=args.seed)
    started = time.time()
    simulator = TicketSimulator(config, start=started)
    producer = make_producer(settings)
    sent = 0
    next_report = started + 10.0
    try:
        while args.duration <= 0 or time.time() - started < args.duration:
            for event in simulator.events_until(time.time()):
                producer.send(settings.topics.events, key=str(event["ticket_id"]).encode(),
                              value=json.dumps(event).encode())
                sent += 1
            producer.flush()
            if time.time() >= next_report:
                print(f"simulator: {sent} events published to {settings.topics.events}",
                      file=sys.stderr, flush=True)
                next_report += 10.0
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        producer.flush()
        producer.close()
        print(f"simulator: stopped after {sent} events", file=sys.stderr)
    return 0
if __name__ == "__main__":
    raise SystemExit(main())
