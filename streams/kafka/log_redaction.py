"""Keep secrets out of every log line, whichever library writes it.

Masking our own ``repr`` is not enough: at debug level aiokafka logs each request it
sends, and the SASL PLAIN request carries the password in its bytes. A logger filter
would only see records of the logger it sits on, and handlers are installed by Faust
after we run, so the redaction happens where every record is born: in the log record
factory. It costs one message formatting per emitted record, and only in a process
that registered a secret.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

__all__ = ["redact_from_logs", "MASK"]

MASK = "********"

_lock = threading.Lock()
_spellings: set[str] = set()  # every way a secret may appear in a message
_previous_factory: Callable[..., logging.LogRecord] | None = None


def redact_from_logs(secret: str) -> None:
    """From now on, any log record whose message contains ``secret`` shows ``MASK`` instead.

    Also catches the secret as it appears inside a ``repr`` of str or bytes (escaped
    non-ASCII), which is how request objects print it.
    """
    global _previous_factory
    if not secret:
        return
    forms = {secret, repr(secret)[1:-1], repr(secret.encode("utf-8"))[2:-1]}
    with _lock:
        _spellings.update(form for form in forms if form)
        if _previous_factory is None:
            _previous_factory = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_redacting_factory)


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _previous_factory is not None
    record = _previous_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: leave it to the logging module to report
        return record
    if any(form in message for form in _spellings):
        for form in sorted(_spellings, key=len, reverse=True):
            message = message.replace(form, MASK)
        record.msg, record.args = message, None
    return record
