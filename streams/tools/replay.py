"""Replay: run the engine over a file of events with event time as the clock.

The clock is the largest ``occurred_at`` seen so far (``ReplayClock``): each valid
event first moves the clock to its own time, is applied at that clock, and then due
timers fire — the rule the live worker follows with wall time. No wall time is read
anywhere, so the same lines always produce byte-identical output — which is what lets
the live pipeline be checked against a replay of the same input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Callable, Iterable, TextIO

from pydantic import BaseModel

from ticket_slo.schemas.outputs import DeadLetter
from ticket_slo.schemas.policy import Policy
from ticket_slo.schemas.validation import InvalidEvent, parse_event
from ticket_slo.streams.core.clocks import ReplayClock
from ticket_slo.streams.core.emission import Emission, EmissionKind, EventSource
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.engine_stats import EngineStats
from ticket_slo.streams.core.state_store import DictStateStore, StateStore
from ticket_slo.streams.core.timebase import datetime_to_micros, micros_to_datetime, micros_to_seconds

__all__ = ["ReplaySummary", "OutputSink", "replay", "replay_into"]

#: Receives every record a replay produces, in order: the emission kind and its model.
#: An invalid line arrives as a ``DeadLetter`` of kind ``dead_letter``, like an orphan.
OutputSink = Callable[[EmissionKind, BaseModel], None]


@dataclass(slots=True)
class ReplaySummary:
    """What a replay saw and produced.

    The first three counts are the replay's own; every other field is the ``EngineStats``
    counter of the same name (see there for its meaning), copied by ``take_engine_stats``.
    """

    lines: int = 0  # non-blank lines read
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    breaches: int = 0
    retractions: int = 0
    warnings: int = 0
    outcomes: int = 0
    orphans: int = 0
    not_eligible: int = 0
    ignored_closed: int = 0
    ignored_extra_open: int = 0

    def take_engine_stats(self, stats: EngineStats) -> None:
        """Copy the engine's counters that the summary reports, by name."""
        for name in _FROM_ENGINE:
            setattr(self, name, getattr(stats, name))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


_OWN_COUNTS = ("lines", "valid", "invalid")
_FROM_ENGINE = tuple(field.name for field in fields(ReplaySummary) if field.name not in _OWN_COUNTS)


def replay(
    lines: Iterable[str],
    source_name: str,
    policy: Policy,
    out: TextIO,
    dead_letters: TextIO,
    until: float | None = None,
    *,
    orphan_timeout: float = 86400.0,
    closed_retention: float = 86400.0,
    store: StateStore | None = None,
) -> ReplaySummary:
    """Replay ``lines`` (one JSON event each) and write every emission as one JSON line.

    Outputs go to ``out``, dead letters (invalid lines and orphans) to ``dead_letters``;
    see ``replay_into`` for the clock and the meaning of the arguments.
    """

    def write(kind: EmissionKind, model: BaseModel) -> None:
        target = dead_letters if kind == "dead_letter" else out
        target.write(model.model_dump_json() + "\n")

    return replay_into(lines, source_name, policy, write, until, orphan_timeout=orphan_timeout,
                       closed_retention=closed_retention, store=store)


def replay_into(
    lines: Iterable[str],
    source_name: str,
    policy: Policy,
    sink: OutputSink,
    until: float | None = None,
    *,
    orphan_timeout: float = 86400.0,
    closed_retention: float = 86400.0,
    store: StateStore | None = None,
) -> ReplaySummary:
    """Replay ``lines`` (one JSON event each), handing every record to ``sink`` in order.

    The one replay loop: ``replay`` writes what it is handed, ``whatif`` compares it.
    Invalid lines become dead letters with ``source`` = ``FILE:LINE`` (1-based) and
    ``detected_at`` = the replay clock (the Unix epoch before the first valid event).
    Lines holding undecodable bytes should be read with ``errors="surrogateescape"``:
    the original bytes are then restored here and reported as ``not_utf8``.
    ``until`` (epoch seconds) advances the clock once more at the end, e.g. to fire
    the breaches of tickets still open at the end of the file. ``store`` receives the
    tickets' state, so a caller can read where each clock ended.
    """
    engine = SloEngine(
        policy,
        DictStateStore() if store is None else store,
        orphan_timeout=orphan_timeout,
        closed_retention=closed_retention,
    )
    summary = ReplaySummary()
    clock = ReplayClock()
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        summary.lines += 1
        raw = text.encode("utf-8", "surrogateescape")
        location = f"{source_name}:{number}"
        try:
            event = parse_event(raw)
        except InvalidEvent as invalid:
            summary.invalid += 1
            sink("dead_letter", DeadLetter.of(
                invalid.reason, invalid.detail, raw, None, micros_to_datetime(clock.now or 0), source=location
            ))
            continue
        summary.valid += 1
        now = micros_to_seconds(clock.observe(datetime_to_micros(event.occurred_at)))
        _hand(engine.apply(event, now, EventSource(location=location)).emissions, sink)
        _hand(engine.advance(now), sink)
    if until is not None:
        _hand(engine.advance(until), sink)
    summary.take_engine_stats(engine.stats)
    return summary


def _hand(emissions: list[Emission], sink: OutputSink) -> None:
    for emission in emissions:
        sink(emission.kind, emission.model)
