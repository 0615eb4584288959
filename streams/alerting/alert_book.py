"""Every ticket's alerts at once, and what a batch of outputs changed in Alertmanager.

Pure, like ``ticket_alerts``: the bridge feeds it a batch of outputs and gets back the
alerts to post as firing, those to post as resolved, and the states to write to its own
topic. Diffing before and after the whole batch means an alert opened and closed within
one batch (a backlog read after an outage) is never posted at all: nobody is paged for a
ticket already answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from ticket_slo.streams.alerting.ticket_alerts import AlertRules, SloOutput, TicketAlert, TicketAlerts, apply_output

__all__ = ["AlertChanges", "AlertBook"]

StateKey = tuple[str, str]


@dataclass(slots=True)
class AlertChanges:
    """What to post and what to store after a batch. ``states`` maps a key to its new
    state, or to None when there is nothing left to remember (a tombstone)."""

    firing: list[TicketAlert] = field(default_factory=list)
    resolved: list[TicketAlert] = field(default_factory=list)
    states: dict[StateKey, TicketAlerts | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.firing or self.resolved or self.states)


class AlertBook:
    """The states of all (ticket, objective) pairs the bridge remembers."""

    def __init__(self, rules: AlertRules, states: Iterable[TicketAlerts] = ()) -> None:
        self.rules = rules
        self._states: dict[StateKey, TicketAlerts] = {state.key: state for state in states}

    def __len__(self) -> int:
        return len(self._states)

    def get(self, ticket_id: str, objective: str) -> TicketAlerts | None:
        return self._states.get((ticket_id, objective))

    def open_alerts(self) -> list[TicketAlert]:
        return [alert for state in self._states.values() for alert in state.open_alerts()]

    def apply(self, outputs: Iterable[SloOutput]) -> AlertChanges:
        before: dict[StateKey, TicketAlerts | None] = {}
        for output in outputs:
            key = (output.ticket_id, output.objective)
            state = self._states.get(key)
            before.setdefault(key, state)
            self._states[key] = apply_output(state, output, self.rules)
        changes = AlertChanges()
        for key, old in before.items():
            new = self._states[key]
            if not new.worth_keeping():
                del self._states[key]
            if new == old or (old is None and not new.worth_keeping()):
                continue
            changes.states[key] = new if new.worth_keeping() else None
            old_alerts = {_identity(alert): alert for alert in (old.open_alerts() if old else ())}
            new_alerts = {_identity(alert): alert for alert in new.open_alerts()}
            changes.firing.extend(alert for identity, alert in new_alerts.items() if old_alerts.get(identity) != alert)
            changes.resolved.extend(alert for identity, alert in old_alerts.items() if identity not in new_alerts)
        return changes

    def forget_closed(self, before: datetime) -> list[StateKey]:
        """Drop the closed tickets whose clock stopped before ``before``; their keys, for tombstones.

        A closed marker only guards against a breach or warning of the ticket read after its
        outcome; once the bridge has read well past the outcome, none can still be waiting.
        """
        forgotten = [key for key, state in self._states.items()
                     if state.closed_at is not None and state.closed_at < before and not state.open_alerts()]
        for key in forgotten:
            del self._states[key]
        return forgotten


def _identity(alert: TicketAlert) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(alert.labels().items()))
