"""The query of ``GET /api/open`` and its page cursor, parsed from the request and checked.

A page is cut by a cursor, not an offset: the key of the last clock shown (deadline,
ticket id, objective). The next page starts right after it whatever opened or stopped in
between, and every worker can cut its own part of the list at the same place.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Final, Mapping

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.schemas.events import PRIORITIES

__all__ = ["QueryError", "OpenQuery", "SortKey", "NO_DEADLINE", "parse_open_query", "encode_cursor",
           "decode_cursor", "DEFAULT_LIMIT", "MAX_LIMIT"]

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
#: The deadline a paused clock sorts by: after every real one.
NO_DEADLINE: Final = 2**62
#: (deadline in engine microseconds or NO_DEADLINE, ticket id, objective).
SortKey = tuple[int, str, str]
_KNOWN: Final = frozenset({"customer", "account_manager", "priority", "objective", "due_within", "limit", "after",
                           "scope"})


class QueryError(TicketSloError):
    """A query the API cannot answer; the message says which parameter and why (HTTP 400)."""


@dataclass(frozen=True)
class OpenQuery:
    customer: str | None = None
    account_manager: str | None = None
    priorities: frozenset[str] | None = None
    objective: str | None = None
    #: Only clocks due within this many seconds from now (paused clocks have no due time).
    due_within: float | None = None
    limit: int = DEFAULT_LIMIT
    after: SortKey | None = None

    def for_customer(self, customer: str) -> "OpenQuery":
        """The same query narrowed to one customer (a customer token's view)."""
        return OpenQuery(customer, self.account_manager, self.priorities, self.objective, self.due_within,
                         self.limit, self.after)

    def to_params(self) -> dict[str, str]:
        """The query as request parameters (to ask the other workers the same)."""
        params: dict[str, str] = {"limit": str(self.limit)}
        for name in ("customer", "account_manager", "objective"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        if self.priorities is not None:
            params["priority"] = ",".join(sorted(self.priorities))
        if self.due_within is not None:
            params["due_within"] = repr(self.due_within)
        if self.after is not None:
            params["after"] = encode_cursor(self.after)
        return params


def parse_open_query(params: Mapping[str, str]) -> OpenQuery:
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise QueryError(f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(_KNOWN - {'scope'}))}")
    priorities = None
    if params.get("priority"):
        priorities = frozenset(part.strip().upper() for part in params["priority"].split(",") if part.strip())
        bad = sorted(priorities - set(PRIORITIES))
        if bad:
            raise QueryError(f"priority={bad[0]!r} is not one of {', '.join(PRIORITIES)}")
    due_within = None
    if params.get("due_within"):
        due_within = _number(params["due_within"], "due_within")
        if due_within < 0:
            raise QueryError(f"due_within={params['due_within']!r} must not be negative")
    limit = DEFAULT_LIMIT
    if params.get("limit"):
        limit = int(_number(params["limit"], "limit"))
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit={params['limit']!r} must be between 1 and {MAX_LIMIT}")
    return OpenQuery(
        customer=params.get("customer") or None,
        account_manager=params.get("account_manager") or None,
        priorities=priorities,
        objective=params.get("objective") or None,
        due_within=due_within,
        limit=limit,
        after=decode_cursor(params["after"]) if params.get("after") else None,
    )


def _number(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise QueryError(f"{name}={raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise QueryError(f"{name}={raw!r} is not a finite number")
    return value


def encode_cursor(key: SortKey) -> str:
    raw = json.dumps([key[0], key[1], key[2]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> SortKey:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value: Any = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise QueryError(f"after={text[:40]!r} is not a cursor of this API (take 'next' from an answer)") from None
    if (not isinstance(value, list) or len(value) != 3 or not isinstance(value[0], int) or isinstance(value[0], bool)
            or not isinstance(value[1], str) or not isinstance(value[2], str)):
        raise QueryError(f"after={text[:40]!r} is not a cursor of this API (take 'next' from an answer)")
    return value[0], value[1], value[2]
