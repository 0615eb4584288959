"""The one root of the errors a user can cause and fix: a bad file, setting, argument or broker.

It lives in the lowest layer so that every layer can raise it, and the command line
catches it in one place: it prints ``ticket-slo: <message>`` on one line and exits
with the error's code, with no traceback. Anything else that escapes is a bug.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["TicketSloError"]


class TicketSloError(Exception):
    """A problem the user can fix, told in one line, with the exit code of the command.

    Subclasses may set ``label`` (said before the message, as in ``bad setting: …``)
    and a different ``exit_code``.
    """

    #: Words put before the message on the command line; empty for none.
    label: ClassVar[str] = ""
    #: The command's exit status when this error ends it (2: the user's input was refused);
    #: a subclass may set its own, and one error may be given another.
    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    def one_line(self) -> str:
        """The label and the message on a single line, as the command line prints it."""
        text = " ".join(part.strip() for part in str(self).splitlines() if part.strip())
        return f"{self.label}: {text}" if self.label else text
