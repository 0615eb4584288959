"""Objective names: the built-in one, and the type every output names its objective with.

A policy may define more objectives (``schemas/objective_spec.py``); their names are
checked against ``OBJECTIVE_NAME_PATTERN`` when the policy is loaded.
"""

from __future__ import annotations

from typing import Final

__all__ = ["Objective", "FIRST_RESPONSE", "OBJECTIVES"]

#: An objective's name as outputs carry it.
Objective = str
FIRST_RESPONSE: Final[Objective] = "first_response"
#: The objectives every policy knows without defining them.
OBJECTIVES: Final[tuple[Objective, ...]] = (FIRST_RESPONSE,)
