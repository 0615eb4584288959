"""The status API's tokens file: who may read what.

```yaml
tokens:
  - name: support-desk        # what logs and metrics say, never the token
    token: "a-long-random-secret"
    staff: true               # every ticket
  - name: acme-portal
    token: "another-long-random-secret"
    customer: acme            # only customer acme's tickets
```

Each token is either staff or scoped to exactly one customer. A mistake stops the worker
with one line naming the file, the line and the key, as for the policy file; the message
never repeats a token's value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.schemas.policy import yaml_line_of

__all__ = ["AccessToken", "TokensFile", "TokensFileError", "load_tokens", "MIN_TOKEN_CHARS"]

#: Shorter secrets can be guessed by trying.
MIN_TOKEN_CHARS: Final = 16


class AccessToken(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    token: str = Field(min_length=MIN_TOKEN_CHARS, max_length=512, repr=False)
    staff: bool = False
    customer: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_scope(self) -> AccessToken:
        if self.staff == (self.customer is not None):
            raise ValueError("give either 'staff: true' or 'customer: ID', not both and not neither")
        if any(ch.isspace() for ch in self.token):
            raise ValueError("a token must not contain spaces")
        return self


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[AccessToken] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TokensFile:
        names: set[str] = set()
        secrets: set[str] = set()
        for entry in self.tokens:
            if entry.name in names:
                raise ValueError(f"the name {entry.name!r} is given to two tokens")
            if entry.token in secrets:
                raise ValueError(f"token {entry.name!r} has the same value as an earlier one")
            names.add(entry.name)
            secrets.add(entry.token)
        return self


class TokensFileError(TicketSloError):
    """A tokens file that cannot be used: file, line, key and problem (never a token's value)."""

    label = "bad tokens file"


def load_tokens(path: str | Path) -> TokensFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise TokensFileError(f"{path}: cannot read: {reason}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise TokensFileError(f"{path}: {where}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(document, dict):
        raise TokensFileError(f"{path}: expected a mapping with a 'tokens' list, got {type(document).__name__}")
    try:
        return TokensFile.model_validate(document)
    except ValidationError as error:
        item = error.errors(include_url=False)[0]
        loc = [str(part) for part in item["loc"]]
        line = yaml_line_of(text, loc)
        where = f"{path}: line {line}" if line is not None else str(path)
        key = ".".join(loc) or "(top level)"
        # pydantic's message may quote the input: never for the token itself.
        problem = item["msg"].removeprefix("Value error, ") if loc[-1:] != ["token"] else _token_problem(item["type"])
        raise TokensFileError(f"{where}: {key}: {problem}") from None


def _token_problem(kind: str) -> str:
    if kind == "string_too_short":
        return f"a token must have at least {MIN_TOKEN_CHARS} characters"
    if kind == "missing":
        return "Field required"
    return "must be a string of 16 to 512 characters"
