"""Message specs (what a Discord message should look like) and Discord's size limits.

The renderer produces these plain, comparable values from domain state; the Discord side
turns them into `discord.Embed`s and views. Keeping them free of discord.py makes the
renderer a pure function that tests can check against every limit, and lets the message
updater skip an edit when the spec did not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

# Discord's documented limits (https://discord.com/developers/docs/resources/message).
CONTENT_MAX = 2000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
ACTION_ROWS_MAX = 5
BUTTONS_PER_ROW_MAX = 5
SELECT_OPTIONS_MAX = 25
SELECT_OPTION_TEXT_MAX = 100
SELECT_PLACEHOLDER_MAX = 150
BUTTON_LABEL_MAX = 80
CUSTOM_ID_MAX = 100

ELLIPSIS = "…"

COLOR_CURRENT = 0x5865F2
COLOR_DONE = 0x57F287
COLOR_UPCOMING = 0x99AAB5
COLOR_WARNING = 0xFEE75C
COLOR_STOPPED = 0xED4245


def clip(text: str, limit: int) -> str:
    """Return `text`, shortened to `limit` characters with a visible "…" when it is longer."""
    if limit < 1:
        raise ValueError("clip needs a limit of at least 1")
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def split_text(text: str, size: int) -> list[str]:
    """Split `text` into pieces of at most `size` characters, preferring to break at spaces."""
    if size < 1:
        raise ValueError("split_text needs a size of at least 1")
    pieces: list[str] = []
    rest = text
    while len(rest) > size:
        cut = rest.rfind(" ", size // 2, size)
        cut = size if cut <= 0 else cut + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def bounded_lines(lines: Sequence[str], limit: int, *, noun: str = "more") -> str:
    """Join `lines` with newlines within `limit` characters, ending with "…and N more" if cut."""
    shown: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        remaining = len(lines) - index - 1
        tail = len(f"\n…and {len(lines)} {noun}") if remaining else 0
        cost = len(line) + (1 if shown else 0)
        if used + cost + tail > limit:
            break
        shown.append(line)
        used += cost
    hidden = len(lines) - len(shown)
    if hidden:
        shown.append(f"…and {hidden} {noun}")
    return clip("\n".join(shown), limit)


@dataclass(frozen=True)
class EmbedField:
    """One embed field."""

    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class EmbedSpec:
    """What one embed shows."""

    title: str
    description: str = ""
    color: int = COLOR_CURRENT
    fields: tuple[EmbedField, ...] = ()
    footer: str = ""

    def size(self) -> int:
        """Return the characters Discord counts toward the 6,000-per-embed limit."""
        return (
            len(self.title)
            + len(self.description)
            + len(self.footer)
            + sum(len(f.name) + len(f.value) for f in self.fields)
        )


@dataclass(frozen=True)
class OptionSpec:
    """One select option: what the user sees and the value the bot gets back."""

    label: str
    value: str
    description: str = ""


@lru_cache(maxsize=4096)
def shared_option(label: str, value: str, description: str = "") -> OptionSpec:
    """Return the one OptionSpec of these texts, shared by every spec that shows it.

    The room keeps the specs it rendered, and each has an option per item (Tick and Waive
    both list every open item): 100 releases of one template held 28,000 options with 73
    distinct values. Specs are immutable, so equal options can be one object (bounded cache).
    """
    return OptionSpec(label, value, description)


@dataclass(frozen=True)
class SelectSpec:
    """A string select acting on checklist items (`action`: tick, untick or waive)."""

    action: str
    custom_id: str
    placeholder: str
    options: tuple[OptionSpec, ...]
    max_values: int = 1


@dataclass(frozen=True)
class ButtonSpec:
    """A button (`action`: advance or refresh)."""

    action: str
    custom_id: str
    label: str
    style: str = "primary"
    disabled: bool = False


RowSpec = tuple[SelectSpec | ButtonSpec, ...]


@dataclass(frozen=True)
class MessageSpec:
    """A whole message: content, embeds and rows of controls."""

    content: str = ""
    embeds: tuple[EmbedSpec, ...] = ()
    rows: tuple[RowSpec, ...] = ()
    reactions: tuple[str, ...] = field(default=(), compare=False)


def limit_problems(spec: MessageSpec) -> list[str]:
    """Return every Discord limit `spec` breaks (empty when it can be sent as is)."""
    found: list[str] = []

    def check(what: str, length: int, limit: int) -> None:
        if length > limit:
            found.append(f"{what} has {length} characters (limit {limit})")

    check("content", len(spec.content), CONTENT_MAX)
    if not spec.content and not spec.embeds:
        found.append("message has neither content nor an embed")
    if sum(e.size() for e in spec.embeds) > EMBED_TOTAL_MAX:
        found.append(f"embeds total {sum(e.size() for e in spec.embeds)} characters (limit 6000)")
    for embed in spec.embeds:
        check("embed title", len(embed.title), EMBED_TITLE_MAX)
        check("embed description", len(embed.description), EMBED_DESCRIPTION_MAX)
        check("embed footer", len(embed.footer), EMBED_FOOTER_MAX)
        if len(embed.fields) > EMBED_FIELDS_MAX:
            found.append(f"embed has {len(embed.fields)} fields (limit {EMBED_FIELDS_MAX})")
        for f in embed.fields:
            check("field name", len(f.name), EMBED_FIELD_NAME_MAX)
            check("field value", len(f.value), EMBED_FIELD_VALUE_MAX)
            if not f.name or not f.value:
                found.append("an embed field is empty")
    if len(spec.rows) > ACTION_ROWS_MAX:
        found.append(f"message has {len(spec.rows)} action rows (limit {ACTION_ROWS_MAX})")
    for row in spec.rows:
        found.extend(_row_problems(row))
    return found


def _row_problems(row: RowSpec) -> list[str]:
    found: list[str] = []
    selects = [c for c in row if isinstance(c, SelectSpec)]
    if selects and len(row) > 1:
        found.append("a select must be alone in its action row")
    if len(row) > BUTTONS_PER_ROW_MAX or not row:
        found.append(f"an action row has {len(row)} components (1 to {BUTTONS_PER_ROW_MAX})")
    for component in row:
        if len(component.custom_id) > CUSTOM_ID_MAX:
            found.append(f"custom id {component.custom_id!r} is too long")
        if isinstance(component, ButtonSpec):
            if not 1 <= len(component.label) <= BUTTON_LABEL_MAX:
                found.append(f"button label {component.label!r} is not 1..{BUTTON_LABEL_MAX}")
            continue
        if not 1 <= len(component.options) <= SELECT_OPTIONS_MAX:
            found.append(f"select has {len(component.options)} options (1 to {SELECT_OPTIONS_MAX})")
        if not 1 <= component.max_values <= len(component.options):
            found.append(f"select max_values {component.max_values} is out of range")
        if len(component.placeholder) > SELECT_PLACEHOLDER_MAX:
            found.append("select placeholder is too long")
        values = [o.value for o in component.options]
        if len(set(values)) != len(values):
            found.append("select option values repeat")
        for option in component.options:
            for text in (option.label, option.value):
                if not 1 <= len(text) <= SELECT_OPTION_TEXT_MAX:
                    found.append(f"select option text {text[:30]!r} is not 1..100 characters")
            if len(option.description) > SELECT_OPTION_TEXT_MAX:
                found.append("select option description is too long")
    return found
