"""What the engine hands back to its caller: ``(kind, key, model)`` triples.

``OUTPUT_TYPES`` is the one table of output models: for each, the kind that picks its
topic (``breach`` carries both breaches and their retractions so that a consumer sees
them in order on one partition) and the ``EngineStats`` counter that counts it. The
engine, replay and the worker's metrics all read it, so a new output model is added here
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

from pydantic import BaseModel

from ticket_slo.schemas.outputs import DeadLetter, SloAtRisk, SloBreached, SloBreachRetracted, SloCompleted

__all__ = ["EmissionKind", "EMISSION_KINDS", "OutputType", "OUTPUT_TYPES", "Emission", "EventSource",
           "kind_of", "output_type"]

EmissionKind = Literal["breach", "warning", "outcome", "dead_letter"]
EMISSION_KINDS: Final[tuple[EmissionKind, ...]] = ("breach", "warning", "outcome", "dead_letter")


class OutputType(NamedTuple):
    """An output model, the kind (topic) it is published to, and the counter that counts it."""

    model: type[BaseModel]
    kind: EmissionKind
    counter: str  # a field of ``EngineStats``


#: Every model the engine emits. Its dead letters are always orphans (invalid input never
#: reaches the engine), hence the counter.
OUTPUT_TYPES: Final[tuple[OutputType, ...]] = (
    OutputType(SloBreached, "breach", "breaches"),
    OutputType(SloBreachRetracted, "breach", "retractions"),
    OutputType(SloAtRisk, "warning", "warnings"),
    OutputType(SloCompleted, "outcome", "outcomes"),
    OutputType(DeadLetter, "dead_letter", "orphans"),
)
_BY_MODEL: Final[dict[type[BaseModel], OutputType]] = {entry.model: entry for entry in OUTPUT_TYPES}


def output_type(model: BaseModel) -> OutputType:
    """The table entry of an output model; a model of any other type is a bug."""
    try:
        return _BY_MODEL[type(model)]
    except KeyError:
        raise TypeError(f"{type(model).__name__} is not an engine output model") from None


def kind_of(model: BaseModel) -> EmissionKind:
    """The emission kind (output topic) of an output model."""
    return output_type(model).kind


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
