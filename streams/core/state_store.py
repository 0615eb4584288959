"""Where per-ticket state lives: a tiny protocol, so the engine never sees Faust.

The live worker puts a Faust table behind it; tests and replay use a dict. Values
are plain JSON-able records (the changelog serialises them), and the engine always
``put``s a fresh record rather than mutating one in place, because an in-place change
to a table value would never reach the changelog.
"""

from __future__ import annotations

from typing import Any, Iterable, Protocol, runtime_checkable

__all__ = ["Record", "StateStore", "DictStateStore"]

Record = dict[str, Any]


@runtime_checkable
class StateStore(Protocol):
    """Per-ticket records keyed by ticket id."""

    def get(self, key: str) -> Record | None: ...

    def put(self, key: str, value: Record) -> None: ...

    def delete(self, key: str) -> None: ...

    def items(self) -> Iterable[tuple[str, Record]]: ...


class DictStateStore:
    """In-memory ``StateStore`` for tests and replay."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Record] | None = None) -> None:
        self._data: dict[str, Record] = {} if data is None else data

    def get(self, key: str) -> Record | None:
        return self._data.get(key)

    def put(self, key: str, value: Record) -> None:
        self._data[key] = value

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def items(self) -> Iterable[tuple[str, Record]]:
        return list(self._data.items())

    @property
    def data(self) -> dict[str, Record]:
        """The dict itself (not a copy)."""
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data
