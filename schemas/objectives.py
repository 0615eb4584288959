"""The names of the service-level objectives the engine knows how to track."""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["Objective", "FIRST_RESPONSE", "OBJECTIVES"]

#: Only first response for now; the name travels in every output so that more can follow.
Objective = Literal["first_response"]
FIRST_RESPONSE: Final[Objective] = "first_response"
OBJECTIVES: Final[tuple[Objective, ...]] = (FIRST_RESPONSE,)
