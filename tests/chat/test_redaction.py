"""The logging boundary redacts secrets and credential headers, in messages and tracebacks."""

from __future__ import annotations

import logging

import pytest

from bot.core.redaction import MASK, install_redaction, redact

SECRET = "hunter2-very-secret-token"


def test_known_values_and_credential_headers_are_masked() -> None:
    """A registered value anywhere, and any Authorization or signature credential, is masked."""
    install_redaction([SECRET])
    text = redact(
        f"boom {SECRET} Authorization: Bearer other-token X-Releasebot-Signature: sha256=abc"
    )
    assert SECRET not in text
    assert "other-token" not in text and "sha256=abc" not in text
    assert text.count(MASK) == 3


def test_every_logger_is_redacted_including_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture, allow_logged_errors: None
) -> None:
    """aiohttp's own logger, %-arguments and an exception's text are redacted when logged."""
    install_redaction([SECRET])
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("aiohttp.server").error("bad header %r", f"Bearer {SECRET}\x00")
        try:
            raise ValueError(f"token was {SECRET}")
        except ValueError:
            logging.getLogger("bot.any").exception("failed")
    assert SECRET not in caplog.text
    assert caplog.text.count(MASK) >= 2
