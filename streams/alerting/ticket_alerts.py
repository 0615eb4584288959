"""Which Alertmanager alerts exist, given the worker's outputs: the bridge's rules, no I/O.

One ``TicketAlerts`` per (ticket, objective) remembers what is open for it: at most one
breach alert (it pages) and one warning alert (it notifies), plus the two facts that make
the rules safe against the order the bridge happens to read three topics in:

- ``closed_at``: the clock stopped (an outcome, or a retraction with ``stopped_at``). The
  first-response clock never restarts, so nothing opens for this objective again, even
  when a breach or a warning of the ticket is read after its outcome (another topic).
- ``breach_deadline``: the latest deadline a breach was seen for. A warning for that
  deadline or an earlier one is stale: the breach superseded it.

Applying the same output twice gives the same state, so redeliveries are harmless. Time
only enters as the ``now`` a caller passes to ``annotations``; nothing here reads a clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Literal, Union

from ticket_slo.schemas.outputs import SloAtRisk, SloBreached, SloBreachRetracted, SloCompleted, format_utc

__all__ = [
    "BREACH_ALERT",
    "WARNING_ALERT",
    "BREACH_SEVERITY",
    "WARNING_SEVERITY",
    "SloOutput",
    "AlertRules",
    "TicketAlert",
    "TicketAlerts",
    "apply_output",
    "describe_span",
]

BREACH_ALERT = "TicketSloTicketBreached"
WARNING_ALERT = "TicketSloTicketAtRisk"
#: The severities Alertmanager routes on: a breach pages, a warning notifies.
BREACH_SEVERITY = "page"
WARNING_SEVERITY = "warning"

SloOutput = Union[SloBreached, SloBreachRetracted, SloAtRisk, SloCompleted]
AlertKind = Literal["breach", "warning"]


@dataclass(frozen=True, slots=True)
class AlertRules:
    """What pages and what notifies.

    ``priorities``: the priorities whose breaches page and whose warnings notify.
    ``thresholds``: ``"last"`` (each plan's last ``warn_at`` fraction, from the policy),
    ``"all"``, ``"none"``, or the fractions themselves.
    ``last_threshold``: a plan's last ``warn_at`` fraction (``None`` when it has none).
    """

    priorities: frozenset[str]
    thresholds: Literal["last", "all", "none"] | frozenset[float]
    last_threshold: Callable[[str], float | None] = field(default=lambda plan: None, compare=False)

    def pages(self, priority: str) -> bool:
        return priority in self.priorities

    def notifies(self, warning: SloAtRisk) -> bool:
        if warning.priority not in self.priorities or self.thresholds == "none":
            return False
        if self.thresholds == "all":
            return True
        if self.thresholds == "last":
            last = self.last_threshold(warning.plan)
            return last is not None and abs(warning.threshold - last) < 1e-9
        return any(abs(warning.threshold - chosen) < 1e-9 for chosen in self.thresholds)


@dataclass(frozen=True, slots=True)
class TicketAlert:
    """One alert as Alertmanager will hold it: its labels are its identity."""

    kind: AlertKind
    ticket_id: str
    objective: str
    priority: str
    plan: str
    customer_id: str
    account_manager: str | None
    deadline: datetime
    starts_at: datetime
    breach_id: str | None = None
    threshold: float | None = None

    @property
    def name(self) -> str:
        return BREACH_ALERT if self.kind == "breach" else WARNING_ALERT

    def labels(self) -> dict[str, str]:
        return {
            "alertname": self.name,
            "severity": BREACH_SEVERITY if self.kind == "breach" else WARNING_SEVERITY,
            "ticket_id": self.ticket_id,
            "objective": self.objective,
            "priority": self.priority,
            "plan": self.plan,
        }

    def annotations(self, now: datetime) -> dict[str, str]:
        """What a responder reads; ``late_by`` / ``time_left`` are as of ``now``."""
        deadline = format_utc(self.deadline)
        manager = self.account_manager or "none"
        common = {"ticket": self.ticket_id, "customer": self.customer_id, "account_manager": manager,
                  "deadline": deadline}
        if self.kind == "breach":
            late = describe_span(now - self.deadline)
            return {**common, "late_by": late,
                    "summary": f"{self.priority} ticket {self.ticket_id} of {self.customer_id} has had no first "
                               f"response for {late} past its deadline",
                    "description": f"The {self.objective.replace('_', ' ')} objective of {self.priority} ticket "
                                   f"{self.ticket_id} (customer {self.customer_id}, plan {self.plan}, account "
                                   f"manager {manager}) was due at {deadline}. Answer the ticket: the alert "
                                   f"resolves when its first response is recorded."}
        left = describe_span(self.deadline - now)
        threshold = f"{self.threshold:.0%}" if self.threshold is not None else "a warning threshold"
        return {**common, "time_left": left, "threshold": f"{self.threshold:g}" if self.threshold is not None else "",
                "summary": f"{self.priority} ticket {self.ticket_id} of {self.customer_id} breaches its "
                           f"{self.objective.replace('_', ' ')} objective in {left}",
                "description": f"{threshold} of the target of {self.priority} ticket {self.ticket_id} (customer "
                               f"{self.customer_id}, plan {self.plan}) has passed with no first response; it is "
                               f"due at {deadline}."}

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "ticket_id": self.ticket_id, "objective": self.objective,
                "priority": self.priority, "plan": self.plan, "customer_id": self.customer_id,
                "account_manager": self.account_manager, "deadline": format_utc(self.deadline),
                "starts_at": format_utc(self.starts_at), "breach_id": self.breach_id, "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TicketAlert":
        return cls(kind=data["kind"], ticket_id=data["ticket_id"], objective=data["objective"],
                   priority=data["priority"], plan=data["plan"], customer_id=data["customer_id"],
                   account_manager=data["account_manager"], deadline=_time(data["deadline"]),
                   starts_at=_time(data["starts_at"]), breach_id=data.get("breach_id"),
                   threshold=data.get("threshold"))


@dataclass(frozen=True, slots=True)
class TicketAlerts:
    """What the bridge remembers of one (ticket, objective); see the module docstring."""

    ticket_id: str
    objective: str
    breach: TicketAlert | None = None
    warning: TicketAlert | None = None
    breach_deadline: datetime | None = None
    closed_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.ticket_id, self.objective)

    def open_alerts(self) -> tuple[TicketAlert, ...]:
        return tuple(alert for alert in (self.breach, self.warning) if alert is not None)

    def worth_keeping(self) -> bool:
        """False when forgetting it changes nothing (then the bridge writes a tombstone)."""
        return bool(self.open_alerts()) or self.breach_deadline is not None or self.closed_at is not None

    def to_bytes(self) -> bytes:
        return json.dumps({
            "ticket_id": self.ticket_id, "objective": self.objective,
            "breach": self.breach.to_json() if self.breach else None,
            "warning": self.warning.to_json() if self.warning else None,
            "breach_deadline": format_utc(self.breach_deadline) if self.breach_deadline else None,
            "closed_at": format_utc(self.closed_at) if self.closed_at else None,
        }, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "TicketAlerts":
        data = json.loads(raw)
        return cls(ticket_id=data["ticket_id"], objective=data["objective"],
                   breach=TicketAlert.from_json(data["breach"]) if data.get("breach") else None,
                   warning=TicketAlert.from_json(data["warning"]) if data.get("warning") else None,
                   breach_deadline=_time(data["breach_deadline"]) if data.get("breach_deadline") else None,
                   closed_at=_time(data["closed_at"]) if data.get("closed_at") else None)


def apply_output(state: TicketAlerts | None, output: SloOutput, rules: AlertRules) -> TicketAlerts:
    """The ticket's alerts after ``output``; ``state`` is None for a ticket not seen yet."""
    current = state or TicketAlerts(ticket_id=output.ticket_id, objective=output.objective)
    if isinstance(output, SloCompleted):
        return _closed(current, output.stopped_at)
    if isinstance(output, SloBreachRetracted):
        breach = current.breach
        if breach is not None and breach.breach_id == output.breach_id:
            current = replace(current, breach=None)
        return _closed(current, output.stopped_at) if output.stopped_at is not None else current
    if current.closed_at is not None:  # read after the outcome on another topic: stale
        return current
    if isinstance(output, SloBreached):
        return _breached(current, output, rules)
    return _at_risk(current, output, rules)


def _closed(state: TicketAlerts, stopped_at: datetime) -> TicketAlerts:
    closed_at = stopped_at if state.closed_at is None else min(state.closed_at, stopped_at)
    return replace(state, breach=None, warning=None, closed_at=closed_at)


def _breached(state: TicketAlerts, breach: SloBreached, rules: AlertRules) -> TicketAlerts:
    latest = breach.deadline if state.breach_deadline is None else max(state.breach_deadline, breach.deadline)
    if state.breach_deadline is not None and breach.deadline < state.breach_deadline:
        return state  # an older cycle's breach read late: the newer one stands
    alert = state.breach
    if rules.pages(breach.priority) and (alert is None or alert.breach_id != breach.breach_id):
        alert = TicketAlert(kind="breach", ticket_id=breach.ticket_id, objective=breach.objective,
                            priority=breach.priority, plan=breach.plan, customer_id=breach.customer_id,
                            account_manager=breach.account_manager, deadline=breach.deadline,
                            starts_at=breach.deadline, breach_id=breach.breach_id)
    # The breach supersedes every warning of the ticket, whether or not it pages itself.
    return replace(state, breach=alert, warning=None, breach_deadline=latest)


def _at_risk(state: TicketAlerts, warning: SloAtRisk, rules: AlertRules) -> TicketAlerts:
    if state.breach_deadline is not None and warning.deadline <= state.breach_deadline:
        return state  # the breach of this deadline (or a later one) was already seen
    current = state.warning
    if current is not None and (warning.deadline, warning.threshold) <= (current.deadline, current.threshold or 0.0):
        return state  # a duplicate, or an earlier warning read late
    if not rules.notifies(warning):
        # A warning for a later deadline (the priority changed) makes the open one stale.
        stale = current is not None and warning.deadline > current.deadline
        return replace(state, warning=None) if stale else state
    starts_at = current.starts_at if current is not None and current.deadline == warning.deadline \
        else warning.detected_at
    alert = TicketAlert(kind="warning", ticket_id=warning.ticket_id, objective=warning.objective,
                        priority=warning.priority, plan=warning.plan, customer_id=warning.customer_id,
                        account_manager=None, deadline=warning.deadline, starts_at=starts_at,
                        threshold=warning.threshold)
    return replace(state, warning=alert)


def describe_span(span: timedelta) -> str:
    """``1h 05m``, ``12m 30s``, ``45s``: a duration a responder reads at a glance (0s when negative)."""
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
