"""Output records read back for the report, from JSON lines or Kafka record values.

Why every output type is accepted from every source: ``ticket-slo replay`` prints
outcomes, breaches, retractions and warnings in one stream, so one file can serve as
both ``--outcomes`` and ``--breaches``. Identical records (at-least-once redelivery, or
the same file named twice) count once. A record that is not a valid output is never
dropped silently: it is kept as a ``BadRecord`` naming where it was, and counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final, Iterable

from pydantic import BaseModel, ValidationError

from ticket_slo.schemas.outputs import SloAtRisk, SloBreached, SloBreachRetracted, SloCompleted

__all__ = ["BadRecord", "ReportRecords"]

_MODELS: Final[dict[str, type[BaseModel]]] = {
    "slo.completed": SloCompleted,
    "slo.breached": SloBreached,
    "slo.breach_retracted": SloBreachRetracted,
    "slo.at_risk": SloAtRisk,
}


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that could not be used: where it was (``FILE:LINE`` or ``TOPIC/PARTITION@OFFSET``) and why."""

    where: str
    reason: str

    def one_line(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(slots=True)
class ReportRecords:
    """Every usable record seen, each once, and every bad one."""

    outcomes: list[SloCompleted] = field(default_factory=list)
    breaches: list[SloBreached] = field(default_factory=list)
    retractions: list[SloBreachRetracted] = field(default_factory=list)
    warnings: int = 0
    duplicates: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    _seen: set[BaseModel] = field(default_factory=set, repr=False)

    def add_text(self, text: str, where: str) -> None:
        """Parse one JSON record; a bad one is remembered with ``where`` and the reason."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            self.bad.append(BadRecord(where, f"not JSON ({exc})"))
            return
        kind = data.get("type") if isinstance(data, dict) else None
        model_type = _MODELS.get(kind) if isinstance(kind, str) else None
        if model_type is None:
            self.bad.append(BadRecord(where, f"not an SLO output record (type {kind!r})"))
            return
        try:
            record = model_type.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            location = ".".join(str(part) for part in first["loc"]) or "record"
            self.bad.append(BadRecord(where, f"invalid {kind}: {location}: {first['msg']}"))
            return
        self._add(record)

    def add_lines(self, lines: Iterable[str], source: str) -> None:
        """Every non-blank line of a JSON-lines text, located as ``SOURCE:LINE`` (1-based).

        Lines read with ``errors="surrogateescape"`` that held bytes not UTF-8 are bad records.
        """
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:
                self.bad.append(BadRecord(f"{source}:{number}", "not UTF-8"))
                continue
            self.add_text(line, f"{source}:{number}")

    def add_bytes(self, value: bytes | None, where: str) -> None:
        """One Kafka record value; a tombstone or bytes not UTF-8 are bad records."""
        if value is None:
            self.bad.append(BadRecord(where, "no value"))
            return
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            self.bad.append(BadRecord(where, "not UTF-8"))
            return
        self.add_text(text, where)

    def _add(self, record: BaseModel) -> None:
        if record in self._seen:
            self.duplicates += 1
            return
        self._seen.add(record)
        if isinstance(record, SloCompleted):
            self.outcomes.append(record)
        elif isinstance(record, SloBreached):
            self.breaches.append(record)
        elif isinstance(record, SloBreachRetracted):
            self.retractions.append(record)
        else:
            self.warnings += 1
