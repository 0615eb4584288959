"""One ticket's state, and its compact JSON-able record form.

A ticket moves through four phases (its clocks, one per objective, have their own
statuses: ``clock_state``)::

    pending --opened--> running --last outcome--> done --closed--> closed --retention--> (deleted)
       |                   |                                  ^
       |                   +------------closed----------------+
       +--orphan_timeout--> (deleted, buffered events dead-lettered)

Records use short keys and omit empty fields because at a million open tickets the
state (and its changelog) is the memory bill. Seen event ids are kept as 64-bit
hashes in one string rather than as the ids themselves: an id may be 256
characters, a hash is 16, and a 64-bit collision among one ticket's last 64 ids is
not a practical concern.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Iterable, NamedTuple

import orjson

from ticket_slo.schemas.events import PRIORITIES, Priority
from ticket_slo.schemas.objectives import FIRST_RESPONSE
from ticket_slo.streams.core.clock_state import ClockState, ClockStatus
from ticket_slo.streams.core.emission import EventSource
from ticket_slo.streams.core.state_store import Record

__all__ = [
    "Phase",
    "BufferedEvent",
    "IndexScan",
    "ClockCensus",
    "Group",
    "RUNNING_KIND",
    "PAUSED_KIND",
    "BREACHED_KIND",
    "RECORD_VERSION",
    "STORED_FORM",
    "INDEX_HEADER",
    "STORED_RETIRED",
    "STORED_RUNNING",
    "STORED_BREACHED",
    "STORED_OTHER",
    "SEEN_LIMIT",
    "TicketState",
    "event_id_hash",
]


class Phase(Enum):
    """Where a ticket is in its life; the values are the record's short codes."""

    PENDING = "p"  # events arrived before ticket.opened; they wait in ``buffer``
    RUNNING = "r"  # opened and tracked: some clock runs, is paused, or may still start or restart
    DONE = "d"  # every outcome published (or not eligible); only de-duplication is left
    CLOSED = "c"  # closed marker: ignores everything until it expires


#: A clock's gauge group: (objective, priority).
Group = tuple[str, str]


class ClockCensus(NamedTuple):
    """What the engine's gauges and deadline heaps know of one open clock."""

    group: Group
    kind: str  # RUNNING, PAUSED or BREACHED (a standing breach, paused or not)
    deadline: int | None  # of a running clock without a standing breach, else None


RUNNING_KIND: Final = "running"
PAUSED_KIND: Final = "paused"
BREACHED_KIND: Final = "breached"


class IndexScan(NamedTuple):
    """``TicketState.index_records``' result: what the engine indexes of its records."""

    timers: list[tuple[int, str]]
    #: Group → (deadline, ticket id) of its running clocks without a standing breach.
    deadlines: dict[Group, list[tuple[int, str]]]
    #: Group → open (running or paused) clocks, and of them the paused and the breached.
    open_clocks: dict[Group, int]
    paused: dict[Group, int]
    breached: dict[Group, int]


class BufferedEvent(NamedTuple):
    """An event waiting for its ticket's opening: its JSON text and where it came from."""

    text: str
    source: EventSource | None


#: The record form's version. Records written since objectives became configurable leave
#: it out (absent means 1): at a million tickets, a dict of 11 keys instead of 10 costs
#: 192 bytes more (CPython's table grows from 272 to 464 bytes).
RECORD_VERSION: Final = 1

#: A record's stored value (``ticket_slo.streams.core.changelog_codec``) starts with this
#: byte (never the first byte of JSON), then the rest of ``INDEX_HEADER``, then the JSON.
STORED_FORM: Final = 1
#: form, flags, due time, deadline of the unbreached running clock, priority code.
INDEX_HEADER: Final = struct.Struct("<BBqqb")
_HAS_DUE, _RUNNING, _BREACHED, _HAS_DEADLINE = 1, 2, 4, 8
#: The record holds clocks the header cannot describe (another objective, a paused or
#: finished clock, more than one): a restart decodes its JSON to index it.
_DECODE: Final = 16
#: ``TicketState.stored_kind``'s answers.
STORED_RETIRED, STORED_RUNNING, STORED_BREACHED, STORED_OTHER = 0, 1, 2, 3
_NO_PRIORITY: Final = -1
_PRIORITY_CODES: Final = {priority: code for code, priority in enumerate(PRIORITIES)}
_RUNNING_CODE: Final = Phase.RUNNING.value
SEEN_LIMIT: Final = 64
_HASH_CHARS: Final = 16  # 8-byte blake2b digest, hex
_ENTRY: Final = _HASH_CHARS + 1  # hash plus its trailing comma


def event_id_hash(event_id: str) -> str:
    """Fixed-width stand-in for an event id in the seen list."""
    return hashlib.blake2b(event_id.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(slots=True)
class TicketState:
    """Mutable working copy of one ticket's record; times are engine microseconds."""

    phase: Phase = Phase.PENDING
    seen: str = ","  # ",h1,h2,...," — oldest first, at most SEEN_LIMIT hashes
    due: int | None = None  # the one timer-index entry that is current for this ticket
    # pending
    buffer: list[BufferedEvent] = field(default_factory=list)
    buffered_at: int | None = None  # engine clock when the first event was buffered
    # running (the ticket is tracked: opened, not closed, some clock may still move)
    priority: Priority | None = None
    plan: str | None = None
    customer_id: str | None = None
    account_manager: str | None = None
    contract: str | None = None  # the policy's contract that chose the plan, if one did
    clocks: list[ClockState] = field(default_factory=list)  # in the order they started
    # closed
    closed_at: int | None = None

    # -- de-duplication -------------------------------------------------------------

    def has_seen(self, event_id: str) -> bool:
        return self.has_seen_hash(event_id_hash(event_id))

    def remember(self, event_id: str, limit: int = SEEN_LIMIT) -> None:
        """Add an id; forget the oldest beyond ``limit`` so the state stays bounded."""
        self.remember_hash(event_id_hash(event_id), limit)

    def has_seen_hash(self, digest: str) -> bool:
        """``has_seen`` for an id already hashed (``event_id_hash``): the engine hashes each once."""
        return f",{digest}," in self.seen

    def remember_hash(self, digest: str, limit: int = SEEN_LIMIT) -> None:
        """``remember`` for an id already hashed."""
        seen = self.seen + digest + ","
        excess = (len(seen) - 1) // _ENTRY - limit
        if excess > 0:
            seen = seen[excess * _ENTRY :]
        self.seen = seen

    def seen_count(self) -> int:
        return (len(self.seen) - 1) // _ENTRY

    # -- clocks -------------------------------------------------------------------------

    def clock(self, objective: str) -> ClockState | None:
        """The ticket's clock of ``objective``, if it ever started."""
        for clock in self.clocks:
            if clock.objective == objective:
                return clock
        return None

    def census(self) -> list[ClockCensus]:
        """What the gauges count of this ticket's open clocks (none unless it is tracked)."""
        priority = self.priority
        if self.phase is not Phase.RUNNING or priority is None:
            return []
        found: list[ClockCensus] = []
        for clock in self.clocks:
            if clock.status is ClockStatus.DONE:
                continue
            group = (clock.objective, clock.priority or priority)
            if clock.breached:
                found.append(ClockCensus(group, BREACHED_KIND, None))
            elif clock.status is ClockStatus.PAUSED:
                found.append(ClockCensus(group, PAUSED_KIND, None))
            else:
                found.append(ClockCensus(group, RUNNING_KIND, clock.deadline))
        return found

    # -- transitions that drop fields ---------------------------------------------------

    def retire(self, phase: Phase) -> None:
        """Become a ``done`` or ``closed`` state: nothing moves any more. The seen ids stay for
        de-duplication; the customer, the priority and whether each clock met stay for the
        status API (a customer following the ticket sees it answered, not gone); the rest of
        the terms and the timers go: a retired record is written for every ticket, keep it small."""
        if phase not in (Phase.DONE, Phase.CLOSED):
            raise ValueError(f"cannot retire a ticket into phase {phase.name.lower()}")
        self.due = None
        self.buffer = []
        self.buffered_at = None
        self.plan = self.account_manager = self.contract = None
        self.closed_at = None
        self.clocks = [clock for clock in self.clocks if clock.status is ClockStatus.DONE]
        self.phase = phase

    # -- record form --------------------------------------------------------------------

    def to_record(self) -> Record:
        """Compact JSON-able dict: short keys, empty fields left out. The first clock's keys
        sit beside the ticket's (so a ticket with one clock, the shipped policy's case, costs
        no nesting), any further clock's in the list under ``x``."""
        record: Record = {"ph": self.phase.value, "s": self.seen}
        if self.due is not None:
            record["d"] = self.due
        if self.buffer:
            record["b"] = [[entry.text, None if entry.source is None else entry.source.to_record()]
                           for entry in self.buffer]
        for name, key in _TICKET_FIELD_KEYS:
            value = getattr(self, name)
            if value is not None:
                record[key] = value
        clocks = self.clocks
        if clocks:
            clocks[0].write_into(record)
        if self.closed_at is not None:
            record["ca"] = self.closed_at
        if len(clocks) > 1:
            extra: list[Record] = []
            for clock in clocks[1:]:
                entry: Record = {}
                clock.write_into(entry)
                extra.append(entry)
            record["x"] = extra
        return record

    @classmethod
    def from_record(cls, record: Record) -> TicketState:
        version = record.get("v", RECORD_VERSION)
        if version != RECORD_VERSION:
            raise ValueError(f"ticket state record version {version!r} is not {RECORD_VERSION}")
        phase = _PHASE_BY_CODE.get(record.get("ph"))
        if phase is None:
            raise ValueError(f"ticket state record has unknown phase {record.get('ph')!r}")
        state = cls(phase=phase, seen=record.get("s", ","))
        for key, value in record.items():
            name = _NAME_OF_KEY.get(key)
            if name is None:  # v, ph, s, x and the first clock's keys
                continue
            if name == "buffer":
                value = [BufferedEvent(text, EventSource.from_record(source)) for text, source in value]
            setattr(state, name, value)
        if ClockState.in_record(record):
            state.clocks.append(ClockState.read_from(record))
            for entry in record.get("x", ()):
                state.clocks.append(ClockState.read_from(entry))
        return state

    @staticmethod
    def due_of(record: Record) -> int | None:
        """The record's timer due time, read without decoding the whole record."""
        return record.get("d")

    @staticmethod
    def census_of(record: Record) -> list[ClockCensus]:
        """``census()`` of the record's state, read without building it (a restart reads
        every record)."""
        priority = record.get("p")
        if record.get("ph") != _RUNNING_CODE or priority is None or not ClockState.in_record(record):
            return []
        found: list[ClockCensus] = []
        for clock in (record, *record.get("x", ())):
            status = clock.get("cs")
            if status == _DONE_CODE:
                continue
            group = (clock.get("o", FIRST_RESPONSE), clock.get("cp", priority))
            if clock.get("br"):
                found.append(ClockCensus(group, BREACHED_KIND, None))
            elif status == _PAUSED_CODE:
                found.append(ClockCensus(group, PAUSED_KIND, None))
            else:
                start, target = clock.get("st"), clock.get("t")
                deadline = None if start is None or target is None else clock.get("dl", start + target)
                found.append(ClockCensus(group, RUNNING_KIND, deadline))
        return found

    @staticmethod
    def index_header(record: Record) -> bytes | None:
        """The ``INDEX_HEADER`` that starts the record's stored value: what ``index_records``
        reads of it, so that a restart indexes the ticket without decoding its JSON. It can
        describe one running ``first_response`` clock; a record with any other clock is
        flagged for decoding instead. None when the record cannot have one (a running
        priority outside ``PRIORITIES``)."""
        due = record.get("d")
        flags = 0 if due is None else _HAS_DUE
        code = _NO_PRIORITY
        deadline = 0
        priority = record.get("p")
        if record.get("ph") == _RUNNING_CODE and priority is not None and ClockState.in_record(record):
            code = _PRIORITY_CODES.get(priority, -1)
            if code < 0:
                return None
            if "x" in record or "o" in record or "cs" in record or "cp" in record:
                flags |= _DECODE
            else:
                flags |= _RUNNING
                if record.get("br"):
                    flags |= _BREACHED
                else:
                    start, target = record.get("st"), record.get("t")
                    if start is not None and target is not None:
                        flags |= _HAS_DEADLINE
                        deadline = record.get("dl", start + target)
        return INDEX_HEADER.pack(STORED_FORM, flags, 0 if due is None else due, deadline, code)

    @staticmethod
    def stored_kind(value: bytes) -> int:
        """What a stored value's ``INDEX_HEADER`` says of its ticket, without decoding it:
        ``STORED_RETIRED`` (not tracked), ``STORED_RUNNING`` or ``STORED_BREACHED`` (one running
        ``first_response`` clock, its breach standing or not), or ``STORED_OTHER`` (decode to
        know: another clock, a paused one, several, or no header)."""
        if value[:1] != _STORED_FORM_BYTE or len(value) <= INDEX_HEADER.size:
            return STORED_OTHER
        flags = value[1]
        if flags & _DECODE:
            return STORED_OTHER
        if not flags & _RUNNING:
            return STORED_RETIRED
        return STORED_BREACHED if flags & _BREACHED else STORED_RUNNING

    @staticmethod
    def index_records(items: Iterable[tuple[str, Record | bytes]]) -> "IndexScan":
        """What an engine derives from its records, in one pass: the timer entries, the
        unbreached deadlines, and the open clocks per group with those of them paused or
        whose breach stands. A value still in its stored form (bytes, as read back from the
        changelog) is indexed from its header alone, unless the header says to decode it.

        The header path is inlined: a restarted worker runs this over every open ticket
        (1,000,000 records: 1.6 s through helper functions, measured 2026-11-30)."""
        timers: list[tuple[int, str]] = []
        deadlines: dict[Group, list[tuple[int, str]]] = {}
        counts: dict[Group, int] = {}
        paused: dict[Group, int] = {}
        breached: dict[Group, int] = {}
        add_timer = timers.append
        unpack = INDEX_HEADER.unpack_from
        groups = _FIRST_RESPONSE_GROUPS
        header_size = INDEX_HEADER.size
        for ticket_id, record in items:
            if record.__class__ is bytes:
                _, flags, due, deadline, code = unpack(record)  # type: ignore[arg-type]
                if flags & _HAS_DUE:
                    add_timer((due, ticket_id))
                if flags & _DECODE:
                    record = orjson.loads(memoryview(record)[header_size:])  # type: ignore[index]
                elif not flags & _RUNNING:
                    continue
                else:
                    group = groups[code]
                    counts[group] = counts.get(group, 0) + 1
                    if flags & _BREACHED:
                        breached[group] = breached.get(group, 0) + 1
                        continue
                    if not flags & _HAS_DEADLINE:
                        continue
                    by_group = deadlines.get(group)
                    if by_group is None:
                        by_group = deadlines[group] = []
                    by_group.append((deadline, ticket_id))
                    continue
            else:
                due = record.get("d")  # type: ignore[union-attr]
                if due is not None:
                    add_timer((due, ticket_id))
            for group, kind, deadline in TicketState.census_of(record):  # type: ignore[arg-type]
                counts[group] = counts.get(group, 0) + 1
                if kind == BREACHED_KIND:
                    breached[group] = breached.get(group, 0) + 1
                elif kind == PAUSED_KIND:
                    paused[group] = paused.get(group, 0) + 1
                elif deadline is not None:
                    deadlines.setdefault(group, []).append((deadline, ticket_id))
        return IndexScan(timers, deadlines, counts, paused, breached)


#: ``Phase(code)`` goes through Enum's lookup machinery; this runs for every record read.
_PHASE_BY_CODE: Final[dict[Any, Phase]] = {phase.value: phase for phase in Phase}
#: The ticket's own optional fields between the buffer and its first clock, in record order.
_TICKET_FIELD_KEYS: Final = (
    ("buffered_at", "ba"),
    ("priority", "p"),
    ("plan", "pl"),
    ("customer_id", "c"),
    ("account_manager", "am"),
    ("contract", "ct"),
)
_NAME_OF_KEY: Final[dict[str, str]] = {"d": "due", "b": "buffer", **{key: name for name, key in _TICKET_FIELD_KEYS},
                                       "ca": "closed_at"}
_FIRST_RESPONSE_GROUPS: Final[tuple[Group, ...]] = tuple((FIRST_RESPONSE, priority) for priority in PRIORITIES)
_DONE_CODE: Final = ClockStatus.DONE.value
_STORED_FORM_BYTE: Final = bytes([STORED_FORM])
_PAUSED_CODE: Final = ClockStatus.PAUSED.value
