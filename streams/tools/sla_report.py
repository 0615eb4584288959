"""The ``report`` command: the period's records, from files or the output topics, to one HTML file.

Files are read as ``ticket-slo replay`` prints them (any output type in any file); without
files the outcomes and breaches topics are read from their start to their present end,
with progress on stderr. Bad records are reported one line each (up to a limit) and
counted in the summary line and in the report itself.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.schemas.policy import Policy
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.reporting.html_page import ReportContext, render_html
from ticket_slo.streams.reporting.period import ReportPeriod
from ticket_slo.streams.reporting.records import ReportRecords
from ticket_slo.streams.reporting.sla_figures import Selection, compute_figures
from ticket_slo.streams.tools.files import open_text, write_text

__all__ = ["ReportRequest", "run_report", "customers_of_manager"]

#: Bad records named one by one on stderr; the rest are counted.
MAX_BAD_LINES_SHOWN = 20


class ReportRequest:
    """The command's arguments, checked."""

    def __init__(self, start: str, end: str, out: Path, *, customer: str | None = None,
                 account_manager: str | None = None, files: list[Path] | None = None) -> None:
        self.period = ReportPeriod.parse(start, end)
        self.out = out
        self.customer = customer
        self.account_manager = account_manager
        self.files = files or []


def customers_of_manager(policy: Policy, records: ReportRecords, manager: str) -> frozenset[str]:
    """The manager's customers: those of the policy's contracts naming them, and of breaches naming them.

    Outcomes do not name an account manager; a breach does (the contract's or the ticket's).
    """
    customers = {c for contract in policy.contracts.values() if contract.account_manager == manager
                 for c in contract.customers}
    customers |= {b.customer_id for b in records.breaches if b.account_manager == manager}
    return frozenset(customers)


def read_files(paths: list[Path], records: ReportRecords) -> None:
    for path in dict.fromkeys(paths):  # the same file named twice is read once
        with open_text(path, "records file") as source:
            try:
                records.add_lines(source, str(path))
            except OSError as exc:
                raise TicketSloError(f"report: cannot read records file {str(path)!r}: {exc.strerror or exc}") from None


def read_topics(settings: Settings, records: ReportRecords, err: TextIO) -> list[str]:
    from ticket_slo.streams.kafka.topic_reader import read_to_end

    topics = [settings.topics.outcomes, settings.topics.breaches]
    for topic in topics:
        def progress(read: int, total: int, topic: str = topic) -> None:
            print(f"report: {topic}: {read} of {total} records read", file=err, flush=True)

        for record in read_to_end(settings, topic, client_id=f"{settings.app_id}-report", what="report",
                                  timeout=3600.0, progress=progress):
            records.add_bytes(record.value, f"{record.topic}/{record.partition}@{record.offset}")
    return topics


def run_report(request: ReportRequest, policy: Policy, settings: Settings, err: TextIO = sys.stderr,
               now: datetime | None = None) -> int:
    records = ReportRecords()
    if request.files:
        read_files(request.files, records)
        sources = [p.name for p in dict.fromkeys(request.files)]  # the customer need not see our paths
    else:
        sources = read_topics(settings, records, err)
    for bad in records.bad[:MAX_BAD_LINES_SHOWN]:
        print(f"report: bad record: {bad.one_line()}", file=err)
    if len(records.bad) > MAX_BAD_LINES_SHOWN:
        print(f"report: … and {len(records.bad) - MAX_BAD_LINES_SHOWN} more bad records", file=err)
    manager_customers = (customers_of_manager(policy, records, request.account_manager)
                         if request.account_manager else None)
    figures = compute_figures(records, request.period, Selection(request.customer, manager_customers))
    context = ReportContext(request.customer, request.account_manager, now or datetime.now(timezone.utc),
                            sources, len(records.bad))
    write_text(request.out, render_html(figures, context), "report")
    print(f"report: outcomes {len(records.outcomes)}, breaches {len(records.breaches)}, "
          f"retractions {len(records.retractions)}, warnings {records.warnings}, duplicates {records.duplicates}, "
          f"bad {len(records.bad)}; in the period: customers {len(figures.customers)}, "
          f"standing breaches {len(figures.breaches)}; wrote {request.out}", file=err)
    return 0
