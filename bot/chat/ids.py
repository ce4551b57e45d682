"""Custom ids of the persistent controls: one place builds them and parses them back.

Every control on a release-room message carries what it acts on in its `custom_id`, so a
click on a message posted days ago (before any number of restarts) still reaches the right
release, phase and chunk. Ids use indexes, not keys: a release's template snapshot never
changes, so indexes are stable, and they keep every id far below Discord's 100 characters.
"""

from __future__ import annotations

import re

from bot.core.errors import InvalidInput

MAX_CUSTOM_ID = 100
# The largest row id SQLite can bind (a signed 64-bit integer).
MAX_ID = 2**63 - 1

TICK_TEMPLATE = r"rb:tick:(?P<release>\d+):(?P<phase>\d+):(?P<chunk>\d+)"
UNTICK_TEMPLATE = r"rb:untick:(?P<release>\d+):(?P<phase>\d+):(?P<chunk>\d+)"
WAIVE_TEMPLATE = r"rb:waive:(?P<release>\d+):(?P<phase>\d+):(?P<chunk>\d+)"
ADVANCE_TEMPLATE = r"rb:advance:(?P<release>\d+):(?P<phase>\d+)"
REFRESH_TEMPLATE = r"rb:refresh:(?P<release>\d+)"
WAIVE_REASON_TEMPLATE = (
    r"rb:waive-reason:(?P<release>\d+):(?P<phase>\d+):(?P<item>\d+):(?P<opening>\d+)"
)
# Alerts and incidents post a plain Roll back button with this id; the Kubernetes feature's
# dynamic item claims it, so the three features agree on one id without importing each other.
ROLLBACK_TEMPLATE = r"rb:rollback:(?P<release>\d+)"

_SELECT_TEMPLATES = {"tick": TICK_TEMPLATE, "untick": UNTICK_TEMPLATE, "waive": WAIVE_TEMPLATE}


def _checked(custom_id: str) -> str:
    if len(custom_id) > MAX_CUSTOM_ID:
        raise ValueError(f"custom id {custom_id[:40]!r}… is longer than {MAX_CUSTOM_ID} characters")
    return custom_id


def select_id(action: str, release_id: int, phase: int, chunk: int) -> str:
    """Return the custom id of the `action` select ("tick", "untick" or "waive") of a chunk."""
    if action not in _SELECT_TEMPLATES:
        raise ValueError(f"unknown select action {action!r} (expected tick, untick or waive)")
    return _checked(f"rb:{action}:{release_id}:{phase}:{chunk}")


def advance_id(release_id: int, phase: int) -> str:
    """Return the custom id of the Advance button under phase `phase`."""
    return _checked(f"rb:advance:{release_id}:{phase}")


def refresh_id(release_id: int) -> str:
    """Return the custom id of the Refresh button of a release."""
    return _checked(f"rb:refresh:{release_id}")


def waive_reason_id(release_id: int, phase: int, item: int, opening: int = 0) -> str:
    """Return the custom id of the modal asking why an item is waived.

    `opening` tells apart modals opened at once for the same item (discord.py keeps one
    modal per custom id: without it the second person's submit would find no modal).
    """
    return _checked(f"rb:waive-reason:{release_id}:{phase}:{item}:{opening}")


def rollback_id(release_id: int) -> str:
    """Return the custom id of the shared Roll back button of a release."""
    return _checked(f"rb:rollback:{release_id}")


def parse(template: str, custom_id: str) -> dict[str, int]:
    """Return the integer fields of `custom_id` matched to `template`, or raise InvalidInput."""
    match = re.fullmatch(template, custom_id)
    if match is None:
        raise InvalidInput(f"this control's id {custom_id[:40]!r} is not a valid number")
    return {name: number(value, name) for name, value in match.groupdict().items()}


def number(text: str, what: str = "id") -> int:
    """Return `text` as a row id or index: ASCII digits in range, or raise InvalidInput."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_ID:
        raise InvalidInput(f"this control's {what} {text[:30]!r} is not a valid number")
    return int(text)
