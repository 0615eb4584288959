"""JSON Schema of the contract, generated from the pydantic models (never hand-written).

Consumers in other languages validate against these files; generating them from
the same models the processor uses means the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from ticket_slo.schemas.events import TicketEvent
from ticket_slo.schemas.outputs import DeadLetter, SloAtRisk, SloBreached, SloBreachRetracted, SloCompleted
from ticket_slo.schemas.policy import Policy

__all__ = ["json_schemas"]


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by name: inputs as accepted (validation), outputs as written (serialization).

    Pydantic generates schemas deterministically, and the names are returned sorted,
    so ``json.dumps(json_schemas(), sort_keys=True)`` is stable across runs.
    """
    schemas: dict[str, dict[str, Any]] = {
        "ticket-event": TypeAdapter(TicketEvent).json_schema(mode="validation"),
        "slo.breached": SloBreached.model_json_schema(mode="serialization"),
        "slo.breach_retracted": SloBreachRetracted.model_json_schema(mode="serialization"),
        "slo.at_risk": SloAtRisk.model_json_schema(mode="serialization"),
        "slo.completed": SloCompleted.model_json_schema(mode="serialization"),
        "dead-letter": DeadLetter.model_json_schema(mode="serialization"),
        "policy": Policy.model_json_schema(mode="validation"),
    }
    return {name: schemas[name] for name in sorted(schemas)}
