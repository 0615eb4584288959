"""Who a request is, from its token, and what that viewer may see.

Tokens are looked up by their SHA-256 digest: the lookup does not compare secrets
character by character (no timing hint), and the secrets themselves are not kept in a
dict where a debugging dump could show them. A customer viewer is told "no such ticket"
for another customer's ticket, exactly as for an unknown one: a 403 would confirm that
the ticket exists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from ticket_slo.schemas.access_tokens import TokensFile

__all__ = ["Viewer", "AccessBook", "OPEN_ACCESS_VIEWER"]


@dataclass(frozen=True)
class Viewer:
    """A request's identity: a token's name, and its customer (None: staff, sees everything)."""

    name: str
    customer: str | None = None

    @property
    def staff(self) -> bool:
        return self.customer is None

    def may_see(self, customer_id: str | None) -> bool:
        return self.customer is None or self.customer == customer_id

    def describe(self) -> str:
        return f"staff ({self.name})" if self.staff else f"customer {self.customer}"


#: Everyone, on a worker that serves only its loopback address and has no tokens file.
OPEN_ACCESS_VIEWER: Final = Viewer("local")


class AccessBook:
    """The viewers of a tokens file (or open access without one)."""

    def __init__(self, tokens: TokensFile | None) -> None:
        self._by_digest: dict[bytes, Viewer] = {}
        self.open_access = tokens is None
        for entry in tokens.tokens if tokens is not None else ():
            self._by_digest[_digest(entry.token)] = Viewer(entry.name, entry.customer)

    def viewer(self, token: str | None) -> Viewer | None:
        """The token's viewer; None for a missing or unknown token (without a tokens file: everyone is staff)."""
        if self.open_access:
            return OPEN_ACCESS_VIEWER
        if not token:
            return None
        return self._by_digest.get(_digest(token))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
