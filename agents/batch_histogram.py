"""A Prometheus histogram fed a batch of observations at a time.

prometheus-client's ``Histogram.observe`` takes two locks and scans the buckets for every
value: 0.60 µs per observation measured here (2026-11-30), paid for every event the worker
applies. This collector counts a batch into plain lists first and takes its lock once per
batch; a scrape sees the same exposition as a ``Histogram`` of the same name and buckets.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from typing import Iterable, Iterator

from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

__all__ = ["BatchHistogram"]


class BatchHistogram(Collector):
    """An unlabelled histogram; ``observe_many`` adds a batch, ``collect`` serves it."""

    def __init__(self, name: str, documentation: str, buckets: Iterable[float],
                 registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        bounds = sorted(float(b) for b in buckets)
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        self._bounds = bounds
        self._counts = [0] * len(bounds)
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: Iterable[float]) -> None:
        """Add every value (Prometheus buckets are upper-inclusive: ``value <= bound``)."""
        bounds = self._bounds
        counts = [0] * len(bounds)
        total = 0.0
        for value in values:
            counts[bisect_left(bounds, value)] += 1
            total += value
        with self._lock:
            mine = self._counts
            for index, count in enumerate(counts):
                if count:
                    mine[index] += count
            self._sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts = list(self._counts)
            total = self._sum
        cumulative = 0
        buckets = []
        for bound, count in zip(self._bounds, counts):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation)
