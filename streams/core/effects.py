"""What applying one event did, as the engine reports it to its caller.

The caller (the live worker's metrics, a test) learns it from the value ``apply``
returns rather than by comparing the engine's counters before and after.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from ticket_slo.streams.core.emission import Emission

__all__ = ["Effect", "Ignored", "Applied"]


class Effect(Enum):
    """The one thing an event did to its ticket."""

    DUPLICATE = "duplicate"  # its event_id was seen for this ticket: nothing else happened
    BUFFERED = "buffered"  # it arrived before ticket.opened and waits for it
    ORPHANED = "orphaned"  # it arrived before ticket.opened, but too much already waits: dead-lettered
    CLOCK_STARTED = "clock_started"  # a ticket.opened that started a clock
    NOT_ELIGIBLE = "not_eligible"  # a ticket.opened on a plan without objectives: no clock
    IGNORED = "ignored"  # valid and new but changed nothing; ``Applied.ignored`` says why
    APPLIED = "applied"  # any other event of an opened ticket (it may or may not move the clock)


class Ignored(Enum):
    """Why a valid, new event changed nothing (the values are the metric's ``reason`` label)."""

    TICKET_CLOSED = "ticket_closed"
    ALREADY_OPENED = "already_opened"


class Applied(NamedTuple):
    """What ``SloEngine.apply`` returns: the effect and the outputs to publish, in order.

    ``ignored`` holds one reason per event that changed nothing: this one (then the effect
    is ``IGNORED``), or, for an opening, each buffered event it applied that found the ticket
    already closed by an earlier one. ``EngineStats`` counts the same events. ``started``
    names the (objective, priority) of every clock the event started (an opening, an
    acknowledgement that starts an ETA clock, a reopening that restarts one). ``occurred`` is
    the event's ``occurred_at`` in engine microseconds, as the engine computed it (None when it
    did not: a duplicate, a buffered event), so that the worker's lag metric need not again.
    """

    effect: Effect
    emissions: list[Emission]
    ignored: tuple[Ignored, ...] = ()
    started: tuple[tuple[str, str], ...] = ()
    occurred: int | None = None
