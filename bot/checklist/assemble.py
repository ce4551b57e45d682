"""Turn scanned containers into the frozen template: ids, sign-offs, cross-references."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bot.checklist.annotations import Annotation
from bot.checklist.errors import TemplateError, TemplateProblem
from bot.checklist.keys import KeySet, item_id
from bot.checklist.model import (
    ChecklistTemplate,
    CodeBlock,
    Phase,
    Section,
    SignOffSpec,
    Table,
    TemplateItem,
)


@dataclass
class RawItem:
    """A checkbox line as scanned, before it gets its id."""

    text: str
    note: Annotation
    line: int
    checked: bool
    label: str


@dataclass
class Container:
    """A phase, section or subsection while it is being filled."""

    slug: str
    title: str
    level: int
    line: int
    path: tuple[str, ...]
    key: str = ""
    detached: bool = False
    items: list[RawItem] = field(default_factory=list)
    commands: list[CodeBlock] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    note_lines: list[int] = field(default_factory=list)
    children: list[Container] = field(default_factory=list)
    child_keys: KeySet = field(default_factory=KeySet, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.key = self.key or self.slug

    def child(self, slug: str, title: str, level: int, line: int) -> Container:
        """Open and return a nested container keyed under this one."""
        nested = Container(
            slug, title, level, line, (*self.path, title), f"{self.key}/{slug}", self.detached
        )
        self.children.append(nested)
        return nested

    def walk(self) -> Iterator[Container]:
        """Yield this container and every nested one, in document order."""
        yield self
        for nested in self.children:
            yield from nested.walk()


@dataclass
class _Ids:
    """Everything that must be unique or resolvable across the whole template."""

    source: str
    problems: list[TemplateProblem]
    explicit: dict[str, int] = field(default_factory=dict)
    signoffs: dict[str, int] = field(default_factory=dict)
    items: dict[int, TemplateItem] = field(default_factory=dict)
    specs: list[SignOffSpec] = field(default_factory=list)

    def problem(self, line: int, message: str) -> None:
        """Record a problem at `line`."""
        self.problems.append(TemplateProblem(self.source, line, message))


def assemble(
    *,
    source: str,
    title: str,
    header: Mapping[str, str],
    header_labels: Mapping[str, str],
    preamble: list[str],
    phases: list[Container],
    problems: list[TemplateProblem],
    warnings: list[TemplateProblem] | None = None,
) -> ChecklistTemplate:
    """Give every item its id, check references, and freeze; raise TemplateError on problems."""
    ids = _Ids(source, problems)
    for phase in phases:
        for container in phase.walk():
            _identify(container, ids)
    _check_signoffs(phases, ids)
    if ids.problems:
        raise TemplateError(ids.problems, warnings or ())
    return ChecklistTemplate(
        title=title,
        header=MappingProxyType(dict(header)),
        phases=tuple(_freeze_phase(p, ids.items) for p in phases),
        signoffs=tuple(ids.specs),
        source=source,
        notes=tuple(preamble),
        header_labels=MappingProxyType(dict(header_labels)),
        warnings=tuple(sorted(warnings or (), key=lambda p: p.line)),
    )


def _identify(container: Container, ids: _Ids) -> None:
    taken = KeySet()
    phase_key = container.key.split("/")[0]
    for raw in container.items:
        note = raw.note
        if note.signoff:
            _add_signoff(container, raw, ids)
            continue
        if note.id:
            first = ids.explicit.setdefault(note.id, raw.line)
            if first != raw.line:
                ids.problem(
                    raw.line, f"duplicate id {note.id!r} (first on line {first}); expected unique"
                )
        the_id = note.id or item_id(container.key, raw.text, taken)
        taken.add(the_id)
        ids.items[raw.line] = TemplateItem(
            id=the_id,
            text=raw.text,
            line=raw.line,
            phase_key=phase_key,
            section_path=container.path,
            section_key=container.key,
            required=not note.optional,
            role=note.role,
            check=note.check,
            marks=note.marks,
            checked=raw.checked,
            explicit_id=note.id is not None,
            monitors=note.monitors,
        )


def _add_signoff(container: Container, raw: RawItem, ids: _Ids) -> None:
    note = raw.note
    key = note.signoff or ""
    first = ids.signoffs.setdefault(key, raw.line)
    if first != raw.line:
        ids.problem(
            raw.line, f"duplicate sign-off {key!r} (first on line {first}); expected unique"
        )
    ids.specs.append(
        SignOffSpec(
            key=key,
            text=raw.text,
            role=note.role or "",
            phase_key=note.phase or "",
            blocks=note.blocks,
            line=raw.line,
            label=raw.label,
            section_key=container.key,
            section_path=container.path,
            checked=raw.checked,
        )
    )


def _check_signoffs(phases: list[Container], ids: _Ids) -> None:
    phase_keys = [p.key for p in phases if not p.detached]
    known_phases = set(phase_keys)
    section_keys = {c.key for p in phases if not p.detached for c in p.walk() if c is not p}
    for spec in ids.specs:
        if spec.key in ids.explicit:
            ids.problem(
                spec.line,
                f"sign-off key {spec.key!r} is also an item id (line {ids.explicit[spec.key]}); "
                "expected distinct names",
            )
        if spec.phase_key and spec.phase_key not in known_phases:
            ids.problem(
                spec.line,
                f"sign-off {spec.key!r} names phase {spec.phase_key!r}, which does not exist; "
                f"expected one of: {', '.join(phase_keys)}",
            )
        if spec.blocks and spec.blocks not in section_keys:
            ids.problem(
                spec.line,
                f"sign-off {spec.key!r} blocks section {spec.blocks!r}, which does not exist; "
                "expected a section key such as deployment/production",
            )


def _items_of(container: Container, items: Mapping[int, TemplateItem]) -> tuple[TemplateItem, ...]:
    return tuple(items[raw.line] for raw in container.items if raw.line in items)


def _freeze_section(container: Container, items: Mapping[int, TemplateItem]) -> Section:
    return Section(
        key=container.key,
        title=container.title,
        level=container.level,
        line=container.line,
        items=_items_of(container, items),
        commands=tuple(container.commands),
        tables=tuple(container.tables),
        notes=tuple(container.notes),
        subsections=tuple(_freeze_section(c, items) for c in container.children),
        note_lines=tuple(container.note_lines),
    )


def _freeze_phase(container: Container, items: Mapping[int, TemplateItem]) -> Phase:
    return Phase(
        key=container.key,
        title=container.title,
        line=container.line,
        items=_items_of(container, items),
        sections=tuple(_freeze_section(c, items) for c in container.children),
        commands=tuple(container.commands),
        tables=tuple(container.tables),
        notes=tuple(container.notes),
        note_lines=tuple(container.note_lines),
    )
