"""Render a release's checklist phases as Discord message specs (pure: state in, specs out).

A phase is cut into chunks once, from its template alone, so the number of messages a phase
needs never changes while the release runs. The cut assumes the longest state every item
could reach (done by a 32-character name, or waived with a 200-character reason), so every
chunk stays inside Discord's limits whatever happens later. Nothing is dropped: an item
longer than one line's budget continues on lines starting with "↪ **n.**"; a long code
block continues in the next fence.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.chat import ids
from bot.chat.layout import (
    COLOR_CURRENT,
    COLOR_DONE,
    COLOR_STOPPED,
    COLOR_UPCOMING,
    EMBED_TITLE_MAX,
    SELECT_OPTION_TEXT_MAX,
    SELECT_OPTIONS_MAX,
    ButtonSpec,
    EmbedSpec,
    MessageSpec,
    OptionSpec,
    RowSpec,
    SelectSpec,
    clip,
    shared_option,
    split_text,
)
from bot.chat.room_config import RoomConfig
from bot.checklist.model import CodeBlock, Phase, Section, TemplateItem
from bot.core.actors import BOT_ACTOR, ROLE_TITLES
from bot.releases.domain.release import ItemProgress, ItemState, Release, ReleaseStatus

NAME_MAX = 32
ROLE_NAME_MAX = 32
REASON_MAX = 200
DESCRIPTION_BUDGET = 3900
ITEMS_PER_CHUNK = SELECT_OPTIONS_MAX
ITEM_PIECE = 1500
CODE_PIECE = 1700
TEXT_PIECE = 1000
_LONGEST_TIME = "Jan 05 09:12"
_MARKS = {ItemState.OPEN: "☐", ItemState.DONE: "✅", ItemState.WAIVED: "⏭"}


@dataclass(frozen=True)
class RenderContext:
    """What rendering needs besides the release: how roles are called, the sign-off emoji."""

    role_names: Mapping[str, str] = field(default_factory=lambda: dict(ROLE_TITLES))
    signoff_emoji: str = "✅"

    def role(self, key: str) -> str:
        """Return the name shown for role `key`, at most 32 characters."""
        return clip(self.role_names.get(key) or ROLE_TITLES.get(key, key), ROLE_NAME_MAX)


@dataclass(frozen=True)
class Block:
    """One line (or piece of a line) of a phase message's description.

    `kind` is heading, note, code or item; for items, `item` is the index in the phase,
    `text` is this piece of the item's text, and `first`/`last` say which pieces carry the
    state mark and the state suffix.
    """

    kind: str
    text: str
    worst: int
    item: int = -1
    first: bool = True
    last: bool = True


@dataclass(frozen=True)
class Chunk:
    """The blocks of one phase message and the items whose controls it carries."""

    blocks: tuple[Block, ...]
    items: tuple[int, ...]


# ----- planning (template only) -------------------------------------------------------------


def _worst_suffix() -> int:
    name = "x" * NAME_MAX
    return max(
        len(" 🔒"),
        len(f" — {name} · {_LONGEST_TIME}"),
        len(f" — waived by {name}: {'x' * REASON_MAX}"),
    )


def _tags(item: TemplateItem, role_width: int = ROLE_NAME_MAX, role: str | None = None) -> str:
    tags = ""
    if item.role:
        tags += f" · _{role if role is not None else 'x' * role_width}_"
    if not item.required:
        tags += " _(optional)_"
    return tags


def _item_blocks(item: TemplateItem, index: int) -> list[Block]:
    pieces = split_text(item.text, ITEM_PIECE)
    head = len(f"↪ **{index + 1}.** ")
    blocks = []
    for number, piece in enumerate(pieces):
        last = number == len(pieces) - 1
        worst = head + len(piece) + (len(_tags(item)) + _worst_suffix() if last else 0)
        blocks.append(Block("item", piece, worst, index, number == 0, last))
    return blocks


def _text_blocks(kind: str, text: str) -> list[Block]:
    return [
        Block(kind, piece, len(_decorate(kind, piece))) for piece in split_text(text, TEXT_PIECE)
    ]


def _decorate(kind: str, text: str) -> str:
    return f"**{text}**" if kind == "heading" else text


def _code_blocks(language: str, code: str) -> list[Block]:
    lang = "".join(ch for ch in language.split(" ")[0] if ch.isalnum() or ch in "+-_#")[:20]
    # Discord ends a fence at the first ```; a zero-width space keeps the code's own intact.
    body = code.replace("```", "`\u200b``").rstrip("\n")
    pieces: list[str] = []
    current = ""
    for line in body.split("\n"):
        for part in split_text(line, CODE_PIECE) if line else [""]:
            candidate = f"{current}\n{part}" if current else part
            if current and len(candidate) > CODE_PIECE:
                pieces.append(current)
                candidate = part
            current = candidate
    pieces.append(current)
    return [Block("code", fence, len(fence)) for fence in (f"```{lang}\n{p}\n```" for p in pieces)]


def _content_blocks(
    notes: tuple[str, ...],
    note_lines: tuple[int, ...],
    commands: tuple[CodeBlock, ...],
    items: tuple[TemplateItem, ...],
    top: int,
    index_of: Mapping[str, int],
) -> list[Block]:
    entries: list[tuple[int, int, list[Block]]] = []
    lines = note_lines if len(note_lines) == len(notes) else (top,) * len(notes)
    for order, (note, line) in enumerate(zip(notes, lines, strict=True)):
        entries.append((line, order, _text_blocks("note", note)))
    for order, command in enumerate(commands):
        entries.append((command.line, order, _code_blocks(command.language, command.code)))
    for order, item in enumerate(items):
        entries.append((item.line, order, _item_blocks(item, index_of[item.id])))
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    return [block for _line, _order, blocks in entries for block in blocks]


def _sections(phase: Phase) -> Iterator[tuple[str, Section]]:
    def walk(section: Section, prefix: str) -> Iterator[tuple[str, Section]]:
        heading = f"{prefix} › {section.title}" if prefix else section.title
        yield heading, section
        for sub in section.subsections:
            yield from walk(sub, heading)

    for section in phase.sections:
        yield from walk(section, "")


def phase_groups(phase: Phase) -> list[tuple[str | None, list[Block]]]:
    """Return the phase's content as (heading, blocks) groups in document order."""
    index_of = {item.id: index for index, item in enumerate(phase.all_items())}
    groups: list[tuple[str | None, list[Block]]] = []
    if len(phase.title) > EMBED_TITLE_MAX - 56:
        groups.append((None, _text_blocks("heading", phase.title)))
    top = _content_blocks(
        phase.notes, phase.note_lines, phase.commands, phase.items, phase.line, index_of
    )
    if top:
        groups.append((None, top))
    for heading, section in _sections(phase):
        body = _content_blocks(
            section.notes,
            section.note_lines,
            section.commands,
            section.items,
            section.line,
            index_of,
        )
        groups.append((heading, _text_blocks("heading", heading) + body))
    return groups


# Phase plans by the phase's identity (the phase is kept alongside, so an id is never reused
# while its entry lives): hashing a whole phase, as an lru_cache key does, cost more than
# the lookup on every click (a render asks for the plan of every phase and chunk).
_PLANS: dict[int, tuple[Phase, tuple[Chunk, ...]]] = {}
PLANS_MAX = 512


def plan_phase(phase: Phase) -> tuple[Chunk, ...]:
    """Cut `phase` into message-sized chunks (depends on the template only, never on state)."""
    known = _PLANS.get(id(phase))
    if known is not None and known[0] is phase:
        return known[1]
    if len(_PLANS) >= PLANS_MAX:
        _PLANS.clear()
    planned = _plan(phase)
    _PLANS[id(phase)] = (phase, planned)
    return planned


def _plan(phase: Phase) -> tuple[Chunk, ...]:
    chunks: list[Chunk] = []
    blocks: list[Block] = []
    items: list[int] = []
    used = 0

    def flush() -> None:
        nonlocal blocks, items, used
        if blocks:
            chunks.append(Chunk(tuple(blocks), tuple(items)))
        blocks, items, used = [], [], 0

    def add(block: Block) -> None:
        nonlocal used
        blocks.append(block)
        used += block.worst + 1
        if block.kind == "item" and block.first:
            items.append(block.item)

    for heading, group in phase_groups(phase):
        size = sum(b.worst + 1 for b in group)
        if blocks and used + size > DESCRIPTION_BUDGET and size <= DESCRIPTION_BUDGET:
            flush()
        for position, block in enumerate(group):
            starts_item = block.kind == "item" and block.first
            full = used + block.worst + 1 > DESCRIPTION_BUDGET
            if blocks and (full or (starts_item and len(items) == ITEMS_PER_CHUNK)):
                flush()
                if heading is not None and position > 0:
                    add(_continued(heading))
            add(block)
    flush()
    if not chunks:
        note = "No checklist items in this phase: it closes once its sign-offs are given."
        chunks.append(Chunk((Block("note", note, len(note)),), ()))
    return tuple(chunks)


def _continued(heading: str) -> Block:
    text = f"{clip(heading, 200)} (continued)"
    return Block("heading", text, len(_decorate("heading", text)))


# ----- rendering (template + state) ---------------------------------------------------------


def _when(release: Release, at: datetime | None) -> str:
    if at is None:
        return "?"
    if at.date() == release.created_at.date():
        return f"{at:%H:%M}"
    return f"{at:%b %d %H:%M}"


def _progress(release: Release, item: TemplateItem) -> ItemProgress:
    # Release.progress() validates the id by scanning the template; rendering knows it is valid.
    return release.items.get(item.id) or ItemProgress(item.id)


def _bot_proof(progress: ItemProgress) -> bool:
    """Return True when a bot tick carries its evidence link (GitHub checks, issue 17)."""
    reason = progress.reason or ""
    return progress.actor_id == BOT_ACTOR.id and reason.startswith(("https://", "http://"))


def _suffix(release: Release, item: TemplateItem, progress: ItemProgress) -> str:
    name = clip(progress.actor_name or "?", NAME_MAX)
    if progress.state is ItemState.DONE:
        # A bot tick shows its evidence: a link (GitHub checks) or what was measured.
        shown = progress.reason if progress.actor_id == BOT_ACTOR.id and progress.reason else ""
        if _bot_proof(progress):
            evidence = f" · <{clip(shown, REASON_MAX)}>"
        else:
            evidence = f": {clip(shown, REASON_MAX)}" if shown else ""
        return f" — {name} · {_when(release, progress.at)}{evidence}"
    if progress.state is ItemState.WAIVED:
        return f" — waived by {name}: {clip(progress.reason or '', REASON_MAX)}"
    return " 🔒" if release.is_active and release.blocking_signoff(item) else ""


def render_block(
    block: Block, release: Release, items: tuple[TemplateItem, ...], ctx: RenderContext
) -> str:
    """Return the description line for `block`; `items` are the phase's items in order."""
    if block.kind != "item":
        return _decorate(block.kind, block.text)
    item = items[block.item]
    progress = _progress(release, item)
    mark = _MARKS[progress.state] if block.first else "↪"
    line = f"{mark} **{block.item + 1}.** {block.text}"
    if block.last:
        role = ctx.role(item.role) if item.role else None
        line += _tags(item, role=role) + _suffix(release, item, progress)
    return line


def phase_state(release: Release, index: int) -> str:
    """Return closed, in progress, upcoming or stopped for phase `index` of `release`."""
    if release.status is ReleaseStatus.COMPLETED or index < release.phase_index:
        return "closed"
    if release.status is not ReleaseStatus.ACTIVE:
        return "stopped"
    return "in progress" if index == release.phase_index else "upcoming"


_STATE_COLORS = {
    "closed": COLOR_DONE,
    "in progress": COLOR_CURRENT,
    "upcoming": COLOR_UPCOMING,
    "stopped": COLOR_STOPPED,
}


def phase_progress(release: Release, phase: Phase) -> tuple[int, int]:
    """Return (items done or waived, items) of `phase`."""
    items = phase.all_items()
    done = sum(1 for item in items if _progress(release, item).state is not ItemState.OPEN)
    return done, len(items)


def phase_fingerprint(release: Release, phase_index: int, chunk_index: int) -> Hashable:
    """Return everything `render_phase_message` reads from the release's state (with one
    room's context fixed): equal fingerprints render equal messages, so a click re-renders
    only the message of the items it changed."""
    items = release.phases[phase_index].all_items()
    progress = tuple(
        (p.state, p.actor_id, p.actor_name, p.at, p.reason)
        for p in (
            _progress(release, items[i])
            for i in plan_phase(release.phases[phase_index])[chunk_index].items
        )
    )
    return (release.id, release.status, release.phase_index, frozenset(release.signoffs), progress)


def render_phase_message(
    release: Release, phase_index: int, chunk_index: int, ctx: RenderContext
) -> MessageSpec:
    """Return the spec of message `chunk_index` of phase `phase_index`."""
    phase = release.phases[phase_index]
    chunks = plan_phase(phase)
    chunk = chunks[chunk_index]
    state = phase_state(release, phase_index)
    part = f" · part {chunk_index + 1}/{len(chunks)}" if len(chunks) > 1 else ""
    title = clip(f"{phase_index + 1}/{len(release.phases)} · {phase.title}{part}", EMBED_TITLE_MAX)
    items = phase.all_items()
    # Only this message's own items count here, so a tick edits this message and the
    # summary, not every message of the phase (phase-wide progress is in the summary).
    done = sum(1 for i in chunk.items if _progress(release, items[i]).state is not ItemState.OPEN)
    where = " in this part" if len(chunks) > 1 else ""
    footer = f"{release.name} · phase {state} · {done}/{len(chunk.items)} done{where}"
    description = "\n".join(render_block(b, release, items, ctx) for b in chunk.blocks)
    embed = EmbedSpec(title, description, _STATE_COLORS[state], (), footer)
    rows: tuple[RowSpec, ...] = ()
    if release.is_active:
        rows = _controls(release, phase_index, chunk_index, chunk, state, ctx, items)
        if chunk_index == len(chunks) - 1:
            rows += (_buttons(release, phase_index, state),)
    return MessageSpec(embeds=(embed,), rows=rows)


def _option(
    release: Release, item: TemplateItem, index: int, action: str, ctx: RenderContext
) -> OptionSpec:
    progress = _progress(release, item)
    note = ""
    if action == "untick":
        verb = "waived" if progress.state is ItemState.WAIVED else "done"
        note = f"{verb} by {progress.actor_name or '?'}"
    elif (blocker := release.blocking_signoff(item)) is not None:
        note = f"🔒 locked until {blocker.label or blocker.key}"
    elif item.role and action == "tick":
        note = f"needs {ctx.role(item.role)}"
    label = clip(f"{index + 1}. {item.text}", SELECT_OPTION_TEXT_MAX)
    return shared_option(label, str(index), clip(note, SELECT_OPTION_TEXT_MAX))


_PLACEHOLDERS = {"tick": "Tick…", "untick": "Untick…", "waive": "Waive…"}


def _controls(
    release: Release,
    phase_index: int,
    chunk_index: int,
    chunk: Chunk,
    state: str,
    ctx: RenderContext,
    items: tuple[TemplateItem, ...],
) -> tuple[RowSpec, ...]:
    assert release.id is not None, "only a stored release has controls"
    open_items = [i for i in chunk.items if _progress(release, items[i]).state is ItemState.OPEN]
    closed_items = [i for i in chunk.items if i not in open_items]
    rows: list[RowSpec] = []
    for action, chosen in (("tick", open_items), ("untick", closed_items), ("waive", open_items)):
        if not chosen:
            continue
        options = tuple(_option(release, items[i], i, action, ctx) for i in chosen)
        hint = "" if state == "in progress" else f" (phase {state})"
        rows.append(
            (
                SelectSpec(
                    action,
                    ids.select_id(action, release.id, phase_index, chunk_index),
                    f"{_PLACEHOLDERS[action]}{hint}",
                    options,
                    1 if action == "waive" else len(options),
                ),
            )
        )
    return tuple(rows)


def _buttons(release: Release, phase_index: int, state: str) -> RowSpec:
    assert release.id is not None, "only a stored release has controls"
    label = {"closed": "Phase closed", "upcoming": "Advance (not current)"}.get(state, "Advance")
    return (
        ButtonSpec(
            "advance",
            ids.advance_id(release.id, phase_index),
            label,
            "success",
            disabled=state != "in progress",
        ),
        ButtonSpec("refresh", ids.refresh_id(release.id), "Refresh", "secondary"),
    )


def phase_message_keys(release: Release) -> list[tuple[int, int]]:
    """Return (phase index, chunk index) of every phase message of `release`, in order."""
    return [(p, c) for p, phase in enumerate(release.phases) for c in range(len(plan_phase(phase)))]


def render_context(config: RoomConfig) -> RenderContext:
    """Return what the renderer needs: role names and the sign-off emoji."""
    names = {key: config.role_name(key) for key in ROLE_TITLES}
    return RenderContext(role_names=names, signoff_emoji=config.signoff_emoji)
