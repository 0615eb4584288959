"""The report's period: a half-open UTC interval [start, end) from ``--from`` and ``--to``.

Why half-open: consecutive monthly reports (``--from 2026-11-01 --to 2026-12-01``, then
``--from 2026-12-01 --to 2027-01-01``) then count every record exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from ticket_slo.schemas.errors import TicketSloError

__all__ = ["PeriodError", "ReportPeriod", "parse_moment"]


class PeriodError(TicketSloError):
    """A ``--from``/``--to`` value that is not a date, or a period that is empty."""


def parse_moment(text: str, option: str) -> datetime:
    """``2026-11-01`` (midnight UTC) or an RFC 3339 time with an explicit offset, as aware UTC."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=timezone.utc)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PeriodError(f"report: {option} {text!r} is not a date (YYYY-MM-DD) "
                          f"or an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise PeriodError(f"report: {option} {text!r} has no UTC offset (e.g. add Z or +01:00)")
    return moment.astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """Records whose reference time is in ``[start, end)`` belong to the period."""

    start: datetime
    end: datetime

    @classmethod
    def parse(cls, start: str, end: str) -> ReportPeriod:
        period = cls(parse_moment(start, "--from"), parse_moment(end, "--to"))
        if period.end <= period.start:
            raise PeriodError(f"report: --to {end!r} is not after --from {start!r}; "
                              f"the period is [--from, --to)")
        return period

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end
