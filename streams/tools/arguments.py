"""Command-line arguments refused when parsed, each with one line that says why.

A value that would make a command loop for ever, divide by zero or exhaust memory is
stopped here, before anything starts; ``OneLineParser`` reports it (and every other
argument mistake) as a single line with a pointer to ``--help``, exit code 2.
"""

from __future__ import annotations

import argparse
import math
from datetime import datetime
from typing import Callable, NoReturn

__all__ = ["OneLineParser", "number_between", "rfc3339_time"]


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr, not the usage and the error.

    Subcommand parsers are made with the parser's own class, so they behave the same.
    """

    def error(self, message: str) -> NoReturn:
        one_line = " ".join(message.splitlines())  # argparse quotes some arguments as they are
        self.exit(2, f"{self.prog}: {one_line} (see {self.prog} --help)\n")


def number_between(low: float, high: float, *, low_allowed: bool, what: str) -> Callable[[str], float]:
    """An argument type: a finite number above ``low`` (or equal, when ``low_allowed``) and at most ``high``.

    ``what`` completes the message: ``'-1' is not <what>``.
    """

    def parse(text: str) -> float:
        try:
            value = float(text) if text.isascii() else math.nan  # float() also reads other scripts' digits
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value > high or value < low or (value == low and not low_allowed):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


def rfc3339_time(text: str) -> float:
    """An RFC 3339 time with an explicit offset, as epoch seconds (for ``--until``)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. add Z or +01:00)")
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is outside the range of times this tool handles") from None

