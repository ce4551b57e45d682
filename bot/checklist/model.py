"""The typed checklist template: what a parsed Markdown release checklist holds.

Line numbers are provenance, not content: every `line` field is excluded from `==`, so two
templates compare equal when they hold the same structure, texts, ids and annotations even
if the Markdown was laid out differently (that is what the render round trip relies on).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

from bot.checklist.errors import TemplateProblem

# Roles that may be named by `role=` (`bot.core.roles`); the chat layer maps them to Discord roles.


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block; `language` is the fence's info string (usually just a language)."""

    language: str
    code: str
    line: int = field(compare=False)


@dataclass(frozen=True)
class Table:
    """A pipe table: the header cells and the body rows, cell text as written."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    line: int = field(compare=False)


@dataclass(frozen=True)
class TemplateItem:
    """One checkbox item of the checklist (sign-offs are `SignOffSpec`, not items)."""

    id: str
    text: str
    line: int = field(compare=False)
    phase_key: str
    section_path: tuple[str, ...]
    section_key: str
    required: bool = True
    role: str | None = None
    check: str | None = None
    marks: str | None = None
    checked: bool = False
    explicit_id: bool = False
    # `monitors=error_rate@1h`: the bot ticks it when the monitoring window saw that clean.
    monitors: str | None = None


@dataclass(frozen=True)
class SignOffSpec:
    """A sign-off checkbox: who (`role`) must sign before phase `phase_key` can complete.

    `section_key`/`section_path` say where the checkbox stands in the document; `blocks`
    names a section whose items stay locked until this sign-off is given.
    """

    key: str
    text: str
    role: str
    phase_key: str
    blocks: str | None
    line: int = field(compare=False)
    label: str
    section_key: str = ""
    section_path: tuple[str, ...] = ()
    checked: bool = False


@dataclass(frozen=True)
class Section:
    """A `###` section (level 3) or `####` subsection (level 4) with what stands in it."""

    key: str
    title: str
    level: int
    line: int = field(compare=False)
    items: tuple[TemplateItem, ...]
    commands: tuple[CodeBlock, ...]
    tables: tuple[Table, ...]
    notes: tuple[str, ...]
    subsections: tuple[Section, ...]
    # Source line of each note, so the renderer can keep notes next to the blocks they explain.
    note_lines: tuple[int, ...] = field(default=(), compare=False)

    def all_items(self) -> tuple[TemplateItem, ...]:
        """Return this section's items and its subsections' items in document order."""
        found = list(self.items)
        for sub in self.subsections:
            found.extend(sub.all_items())
        return tuple(found)

    def walk(self) -> Iterator[Section]:
        """Yield this section and then every subsection, depth first."""
        yield self
        for sub in self.subsections:
            yield from sub.walk()


@dataclass(frozen=True)
class Phase:
    """A `##` phase of the release (Pre-Release, Release, Deployment, ...)."""

    key: str
    title: str
    line: int = field(compare=False)
    items: tuple[TemplateItem, ...]
    sections: tuple[Section, ...]
    commands: tuple[CodeBlock, ...]
    tables: tuple[Table, ...]
    notes: tuple[str, ...]
    note_lines: tuple[int, ...] = field(default=(), compare=False)

    def all_items(self) -> tuple[TemplateItem, ...]:
        """Return every item of the phase in document order, sections and subsections included."""
        return self._all_items

    @cached_property
    def _all_items(self) -> tuple[TemplateItem, ...]:
        # Every click and render asks (the phase is immutable): walk the sections once.
        found = list(self.items)
        for section in self.sections:
            found.extend(section.all_items())
        return tuple(found)

    def walk_sections(self) -> Iterator[Section]:
        """Yield every section and subsection of the phase, depth first."""
        for section in self.sections:
            yield from section.walk()


@dataclass(frozen=True)
class ChecklistTemplate:
    """A whole parsed checklist: header fields, phases and the sign-offs.

    `notes` holds the prose between the title and the first phase; `header_labels` remembers
    how each header field was spelled (e.g. "版本") so rendering keeps the original language.
    """

    title: str
    header: Mapping[str, str] = field(hash=False)
    phases: tuple[Phase, ...]
    signoffs: tuple[SignOffSpec, ...]
    source: str = field(compare=False)
    notes: tuple[str, ...] = ()
    header_labels: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )
    # What the template does that is allowed but probably not meant (`[x]`, and with
    # `lenient` parsing, brace groups that look like broken annotations).
    warnings: tuple[TemplateProblem, ...] = field(default=(), compare=False)

    @cached_property
    def _items(self) -> tuple[TemplateItem, ...]:
        found: list[TemplateItem] = []
        for phase in self.phases:
            found.extend(phase.all_items())
        return tuple(found)

    @cached_property
    def _items_by_id(self) -> dict[str, TemplateItem]:
        # Gates and renders look items up by id for every item of a phase: index once.
        return {item.id: item for item in self._items}

    def items(self) -> tuple[TemplateItem, ...]:
        """Return every non-sign-off item in document order."""
        return self._items

    def checkbox_count(self) -> int:
        """Return how many checkboxes the template has: items plus sign-offs."""
        return len(self.items()) + len(self.signoffs)

    def item(self, item_id: str) -> TemplateItem:
        """Return the item with id `item_id`; raise KeyError naming the id and the template."""
        found = self._items_by_id.get(item_id)
        if found is not None:
            return found
        hint = " (that is a sign-off key: use signoff())" if self._has_signoff(item_id) else ""
        raise KeyError(f"no checklist item with id {item_id!r} in {self.source}{hint}")

    def signoff(self, key: str) -> SignOffSpec:
        """Return the sign-off with key `key`; raise KeyError naming the key and the template."""
        for candidate in self.signoffs:
            if candidate.key == key:
                return candidate
        known = ", ".join(s.key for s in self.signoffs) or "none"
        raise KeyError(f"no sign-off {key!r} in {self.source} (sign-offs: {known})")

    def workflow_phases(self) -> tuple[Phase, ...]:
        """Return the phases a release walks through: those with items or needing a sign-off."""
        return self._workflow_phases

    @cached_property
    def _workflow_phases(self) -> tuple[Phase, ...]:
        # `Release.phases` asks on every access: compute once per (immutable) template.
        signed = {s.phase_key for s in self.signoffs}
        return tuple(p for p in self.phases if p.all_items() or p.key in signed)

    def phase(self, phase_key: str) -> Phase:
        """Return the phase with key `phase_key`; raise KeyError listing the known keys."""
        for candidate in self.phases:
            if candidate.key == phase_key:
                return candidate
        known = ", ".join(p.key for p in self.phases)
        raise KeyError(f"no phase {phase_key!r} in {self.source} (phases: {known})")

    def section(self, section_key: str) -> Section:
        """Return the section or subsection with key `section_key`; raise KeyError if absent."""
        for phase in self.phases:
            for candidate in phase.walk_sections():
                if candidate.key == section_key:
                    return candidate
        raise KeyError(f"no section {section_key!r} in {self.source}")

    def _has_signoff(self, key: str) -> bool:
        return any(s.key == key for s in self.signoffs)
