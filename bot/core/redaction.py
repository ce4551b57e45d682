"""Keep secrets out of every log line and stored error text.

`install_redaction(values)` registers the configured secret values and wraps the logging
record factory once, so every record of every logger (discord.py's, aiohttp's own "Error
handling request" with a raw header line, ours) is redacted when it is made: its message
is formatted, known secret values and the credentials of `Authorization` and signature
headers are replaced by `[redacted]`, and so is the text of an attached traceback. Stored
texts (the outbox's `last_error`) go through `redact` before they are written.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterable
from typing import Any

MASK = "[redacted]"
# Shorter values are not secrets worth matching (and would mask ordinary words).
_MIN_SECRET_LENGTH = 4
_HEADER = re.compile(
    r"(?i)(authorization['\"]?\s*[:=,]\s*['\"]?\s*(?:bearer|basic|token)?\s*)[^\s'\",;\\]+"
    r"|(x-[a-z0-9-]*signature['\"]?\s*[:=,]\s*['\"]?\s*)[^\s'\",;\\]+"
    r"|(\bbearer\s+)[^\s'\",;\\]+"
)

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def _mask_header(match: re.Match[str]) -> str:
    prefix = next(group for group in match.groups() if group is not None)
    return f"{prefix}{MASK}"


def redact(text: str) -> str:
    """Return `text` with every registered secret and header credential replaced."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return _HEADER.sub(_mask_header, text)


def register_secrets(values: Iterable[str | None]) -> None:
    """Add secret values to redact (empty and very short values are ignored)."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= _MIN_SECRET_LENGTH)


def install_redaction(values: Iterable[str | None] = ()) -> None:
    """Register `values` and make every future log record redacted (idempotent)."""
    global _installed
    register_secrets(values)
    with _lock:
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redact_record(record)
            return record

        logging.setLogRecordFactory(factory)


def redact_record(record: logging.LogRecord) -> None:
    """Format `record`'s message and traceback now, redacted, so no handler sees the raw text."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep what can be shown
        message = f"{record.msg!r} {record.args!r}"
    record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
