"""What the engine hands back to its caller: ``(kind, key, model)`` triples.

The kind picks the output topic (``breach`` carries both breaches and their
retractions so that a consumer sees them in order on one partition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

from pydantic import BaseModel

from ticket_slo.schemas.outputs import DeadLetter, SloAtRisk, SloBreached, SloBreachRetracted, SloCompleted

__all__ = ["EmissionKind", "EMISSION_KINDS", "Emission", "EventSource", "kind_of"]

EmissionKind = Literal["breach", "warning", "outcome", "dead_letter"]
EMISSION_KINDS: Final[tuple[EmissionKind, ...]] = ("breach", "warning", "outcome", "dead_letter")

_KIND_BY_MODEL: Final[dict[type[BaseModel], EmissionKind]] = {
    SloBreached: "breach",
    SloBreachRetracted: "breach",
    SloAtRisk: "warning",
    SloCompleted: "outcome",
    DeadLetter: "dead_letter",
}


def kind_of(model: BaseModel) -> EmissionKind:
    """The emission kind of an output model; a model of any other type is a bug."""
    try:
        return _KIND_BY_MODEL[type(model)]
    except KeyError:
        raise TypeError(f"{type(model).__name__} is not an engine output model") from None


class Emission(NamedTuple):
    """One output record: publish ``model.model_dump_json()`` under ``key`` to ``kind``'s topic."""

    kind: EmissionKind
    key: str
    model: BaseModel


@dataclass(frozen=True, slots=True)
class EventSource:
    """Where an event came from, kept with buffered events so an orphan's dead letter can name it.

    Live events carry ``topic``/``partition``/``offset``; replayed ones carry
    ``location`` as ``FILE:LINE``.
    """

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    location: str | None = None

    def to_record(self) -> list[Any]:
        return [self.topic, self.partition, self.offset, self.location]

    @classmethod
    def from_record(cls, record: list[Any] | None) -> EventSource | None:
        if record is None:
            return None
        topic, partition, offset, location = record
        return cls(topic, partition, offset, location)
