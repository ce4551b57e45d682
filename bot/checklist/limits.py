"""Size limits that keep every template startable: a release posts the whole checklist to
Discord (2,000 characters a message, 4,096 an embed, 25 options a select menu), so a
template that passes `validate` must not turn into hundreds of messages or one huge item.

The defaults match `[checklist]` in the configuration (`docs/configuration.md`); `None`
switches a limit off (the scaling tests use that).
"""

from __future__ import annotations

from dataclasses import dataclass

# Discord allows 2,000 characters a message and 4,096 an embed description; the renderer
# splits longer items over several lines, but one item should read as one line of a message.
MAX_ITEM_LENGTH = 500
# A select menu holds 25 options, so a phase of 100 items is at most 4 menus (4 messages).
MAX_ITEMS_PER_PHASE = 100
# All phases are posted when a release starts: 300 checkboxes is at least 12 messages.
MAX_CHECKBOXES = 300
# The seed checklist is under 6 KB; 64 KiB leaves room for long notes and command blocks.
MAX_BYTES = 65_536


@dataclass(frozen=True)
class TemplateLimits:
    """How big a template may be; each limit names the config key that changes it."""

    max_bytes: int | None = MAX_BYTES
    max_checkboxes: int | None = MAX_CHECKBOXES
    max_items_per_phase: int | None = MAX_ITEMS_PER_PHASE
    max_item_length: int | None = MAX_ITEM_LENGTH

    @classmethod
    def unlimited(cls) -> TemplateLimits:
        """Return limits that never refuse anything (for measuring the parser itself)."""
        return cls(None, None, None, None)


DEFAULT_LIMITS = TemplateLimits()
