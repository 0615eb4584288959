"""Files and directories named on the command line, opened with one-line errors.

A missing file, a directory where a file was meant, a file where a directory was
meant or a lack of permission is the user's to fix: each becomes a ``TicketSloError``
naming the option, the path and the system's reason, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, TextIO

from ticket_slo.schemas.errors import TicketSloError

__all__ = ["FileError", "open_text", "read_bytes", "create_text", "close_written", "output_directory", "write_text"]


class FileError(TicketSloError):
    """A file or directory named by the user cannot be read or written."""


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def open_text(path: Path | str, what: str) -> TextIO:
    """Open ``path`` for reading text; undecodable bytes are kept (``surrogateescape``) for the caller to report."""
    try:
        return open(path, encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise FileError(f"cannot read {what} {str(path)!r}: {_reason(exc)}") from None


def read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileError(f"cannot read {what} {str(path)!r}: {_reason(exc)}") from None


def create_text(path: Path, what: str) -> TextIO:
    """Open ``path`` for writing text, replacing what it held."""
    try:
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise FileError(f"cannot write {what} {str(path)!r}: {_reason(exc)}") from None


def output_directory(path: Path, what: str) -> Path:
    """``path`` as a directory that exists, created with its parents when missing."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FileError(f"cannot write {what} into {str(path)!r}: it is a file, not a directory") from None
    except OSError as exc:
        raise FileError(f"cannot create {what} directory {str(path)!r}: {_reason(exc)}") from None
    return path


def write_text(path: Path, text: str, what: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FileError(f"cannot write {what} {str(path)!r}: {_reason(exc)}") from None


def close_written(stream: TextIO | BinaryIO, what: str) -> None:
    """Close a file we wrote; a failure to flush it (a full disk) is reported like a failed write."""
    try:
        stream.close()
    except OSError as exc:
        raise FileError(f"cannot write {what} {str(getattr(stream, 'name', '?'))!r}: {_reason(exc)}") from None
