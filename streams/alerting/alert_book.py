"""Every ticket's alerts at once, and what a batch of outputs changed in Alertmanager.

Pure, like ``ticket_alerts``: the bridge feeds it a batch of outputs and gets back the
alerts to post as firing, those to post as resolved, and the states to write to its own
topic. Diffing before and after the whole batch means an alert opened and closed within
it is never posted at all: nobody is paged for a ticket already answered. The bridge
absorbs its whole catch-up (the backlog present when it starts, e.g. every output of the
topics' retention on a first start) as one such batch, over as many fetches as it takes.
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
        self._unsettled: dict[StateKey, TicketAlerts | None] = {}  # key -> its state before the first unsettled output

    def __len__(self) -> int:
        return len(self._states)

    def get(self, ticket_id: str, objective: str) -> TicketAlerts | None:
        return self._states.get((ticket_id, objective))

    def open_alerts(self) -> list[TicketAlert]:
        return [alert for state in self._states.values() for alert in state.open_alerts()]

    def apply(self, outputs: Iterable[SloOutput]) -> AlertChanges:
        """Apply one batch and return what it changed."""
        self.absorb(outputs)
        return self.take_changes()

    def absorb(self, outputs: Iterable[SloOutput]) -> None:
        """Apply outputs without settling them yet: the next ``take_changes`` diffs against the
        states before the first unsettled output (the bridge's catch-up reads many batches so)."""
        for output in outputs:
            key = (output.ticket_id, output.objective)
            state = self._states.get(key)
            self._unsettled.setdefault(key, state)
            self._states[key] = apply_output(state, output, self.rules)

    def settled_alerts(self) -> list[TicketAlert]:
        """The open alerts of the keys no unsettled output touched (safe to refresh meanwhile)."""
        return [alert for key, state in self._states.items() if key not in self._unsettled
                for alert in state.open_alerts()]

    def take_changes(self) -> AlertChanges:
        """What changed since the last call: alerts to post firing or resolved, states to store."""
        changes = AlertChanges()
        for key, old in self._unsettled.items():
            new = self._states.get(key)
            if new is None or not new.worth_keeping():
                self._states.pop(key, None)
            if new is None or new == old or (old is None and not new.worth_keeping()):
                continue
            changes.states[key] = new if new.worth_keeping() else None
            old_alerts = {_identity(alert): alert for alert in (old.open_alerts() if old else ())}
            new_alerts = {_identity(alert): alert for alert in new.open_alerts()}
            changes.firing.extend(alert for identity, alert in new_alerts.items() if old_alerts.get(identity) != alert)
            changes.resolved.extend(alert for identity, alert in old_alerts.items() if identity not in new_alerts)
        self._unsettled = {}
        return changes

    def forget_closed(self, before: datetime) -> list[StateKey]:
        """Drop the closed tickets whose clock stopped before ``before``; their keys, for tombstones.

        A closed marker only guards against a breach or warning of the ticket read after its
        outcome; once the bridge has read well past the outcome, none can still be waiting.
        """
        forgotten = [key for key, state in self._states.items() if key not in self._unsettled
                     and state.closed_at is not None and state.closed_at < before and not state.open_alerts()]
        for key in forgotten:
            del self._states[key]
        return forgotten


def _identity(alert: TicketAlert) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(alert.labels().items()))
