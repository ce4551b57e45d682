"""The central failure reporter: what a person is told for each kind of failure."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import discord
import pytest

from bot.chat.failures import FailureReporter
from bot.chat.room_config import RoomConfig
from bot.core.errors import GatesOpen, InvalidInput, InvalidTransition, NotAuthorized

REPORTER = FailureReporter(RoomConfig(role_refs={"tech_lead": "Tech Leads", "devops": "12345"}))


def test_a_denial_names_the_discord_roles_that_would_allow_it() -> None:
    """Say which Discord roles allow the action, using configured names (titles for ids)."""
    text, bug = REPORTER.describe(NotAuthorized("waive", "Eve", ["tech_lead", "devops"], "“x”"))
    assert text == "⛔ You may not waive on “x”: it needs one of these roles: DevOps, Tech Leads."
    assert not bug


def test_open_gates_are_listed_within_one_message() -> None:
    """List every open gate, and count the rest when they exceed 2,000 characters."""
    short, _ = REPORTER.describe(
        GatesOpen("Deployment", ["item not done: a", "sign-off missing: b"])
    )
    assert (
        short
        == "🚧 Deployment cannot close yet; open gates:\n- item not done: a\n- sign-off missing: b"
    )
    long, _ = REPORTER.describe(
        GatesOpen("Deployment", [f"item not done: {'x' * 90} {n}" for n in range(100)])
    )
    assert len(long) <= 2000
    assert long.endswith("more")


@pytest.mark.parametrize("error", [InvalidInput("bad version"), InvalidTransition("closed")])
def test_rule_violations_are_shown_in_their_own_words(error: Exception) -> None:
    """Show a domain error's message after a warning sign."""
    text, bug = REPORTER.describe(error)
    assert text == f"⚠️ {error}"
    assert not bug


def test_a_missing_bot_permission_is_explained_not_treated_as_a_bug() -> None:
    """Name the permissions the bot needs when Discord answers 403."""
    response = SimpleNamespace(status=403, reason="Forbidden")
    error = discord.Forbidden(response, {"code": 50013, "message": "Missing Permissions"})  # type: ignore[arg-type]
    text, bug = REPORTER.describe(error)
    assert text.startswith("⚠️ Discord refused the bot (Missing Permissions)")
    assert "Create Public Threads" in text and "Manage Messages" in text
    assert not bug


def test_anything_else_is_logged_with_a_reference(
    caplog: pytest.LogCaptureFixture, allow_logged_errors: None
) -> None:
    """Log an unexpected error with a short reference and give the person that reference."""
    text, bug = REPORTER.describe(ZeroDivisionError("boom"))
    ref = text.removeprefix("💥 Something went wrong; it was logged (ref ").removesuffix(").")
    assert bug and len(ref) == 8
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert record.getMessage() == f"interaction failed (ref {ref})"
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError


@pytest.mark.parametrize(
    "error",
    [
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        ValueError("invalid literal for int() with base 10: '²'"),
    ],
)
def test_overflow_and_value_errors_are_plain_refusals_logged_at_info(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    """A 25-digit id or a value `int()` cannot read is a refusal, not "💥 Something went wrong"."""
    with caplog.at_level(logging.INFO, logger="bot.chat.failures"):
        text, bug = REPORTER.describe(error)
    assert not bug
    assert text.startswith("⚠️") and "nothing was changed" in text
    assert [r.levelno for r in caplog.records] == [logging.INFO]
