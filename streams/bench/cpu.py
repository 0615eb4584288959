"""Who used the cores: CPU seconds per role (broker, load generator, worker…) per phase.

Each source has a ``label`` (its role) and a ``cpu()`` giving its cumulative CPU
seconds. A phase records every tracked source at its start (a source added during
the phase starts from zero: it was launched for it) and at its end; the difference,
summed per role, is what that role used during the phase. A ``MACHINE`` source
(all of /proc/stat) turns what no followed process used into ``OTHER``: the load of
anything else running on the machine at the same time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["CpuSource", "CpuLedger", "PhaseCpu", "MACHINE", "OTHER"]

#: A source with this label measures the whole machine; the rest of it is reported as ``OTHER``.
MACHINE = "machine"
OTHER = "other (not this run)"


class CpuSource(Protocol):
    label: str

    def cpu(self) -> float: ...


@dataclass(slots=True)
class PhaseCpu:
    """CPU seconds per role over ``wall`` seconds on ``cores`` cores."""

    phase: str
    wall: float
    cores: int
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        capacity = max(self.wall * self.cores, 1e-9)
        return {
            "wall_s": round(self.wall, 2),
            "cores": self.cores,
            "cpu_s": {role: round(value, 2) for role, value in self.seconds.items()},
            "pct_of_machine": {role: round(100 * value / capacity, 1) for role, value in self.seconds.items()},
            "pct_of_machine_total": round(100 * sum(self.seconds.values()) / capacity, 1),
        }


class CpuLedger:
    """Tracks sources across phases; ``begin``/``end`` bracket one phase."""

    def __init__(self, cores: int | None = None) -> None:
        self.cores = cores or os.cpu_count() or 1
        self._sources: list[CpuSource] = []
        self._baseline: dict[int, float] = {}
        self._phase: str | None = None
        self._started = 0.0
        self.phases: list[PhaseCpu] = []

    def track(self, source: CpuSource, *, from_zero: bool = True) -> CpuSource:
        """Follow ``source``; one launched for this phase counts from zero."""
        self._sources.append(source)
        self._baseline[id(source)] = 0.0 if from_zero else source.cpu()
        return source

    def begin(self, phase: str) -> None:
        self._phase = phase
        self._started = time.monotonic()
        for source in self._sources:
            self._baseline[id(source)] = source.cpu()

    def sample(self) -> None:
        """Read every source now, so one that exits later keeps its last value."""
        for source in self._sources:
            source.cpu()

    def end(self) -> PhaseCpu:
        phase = PhaseCpu(self._phase or "?", time.monotonic() - self._started, self.cores)
        machine: float | None = None
        for source in self._sources:
            used = max(0.0, source.cpu() - self._baseline.get(id(source), 0.0))
            if source.label == MACHINE:
                machine = used
                continue
            phase.seconds[source.label] = phase.seconds.get(source.label, 0.0) + used
        if machine is not None:  # what the machine did beyond the processes we follow
            phase.seconds[OTHER] = max(0.0, machine - sum(phase.seconds.values()))
        self.phases.append(phase)
        # Sources that are gone will not use CPU again.
        self._sources = [s for s in self._sources if getattr(s, "returncode", None) is None]
        self._phase = None
        return phase
