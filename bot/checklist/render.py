"""Write a `ChecklistTemplate` back to Markdown that parses to an equal template."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.checklist.annotations import render_item_annotation, render_signoff_annotation
from bot.checklist.model import (
    ChecklistTemplate,
    CodeBlock,
    Phase,
    Section,
    SignOffSpec,
    Table,
    TemplateItem,
)

_HEADER_ORDER = ("version", "release_date", "release_lead")
_ENGLISH_LABELS = {
    "version": "Version",
    "release_date": "Release date",
    "release_lead": "Release lead",
}
# A note stays glued to the one above when it is a bullet or follows a hard line break ("  ");
# everything else starts a new paragraph.
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
_BACKTICK_RUN = re.compile(r"^\s*(`{3,})\s*$")

Element = str | CodeBlock | Table | TemplateItem | SignOffSpec


@dataclass(frozen=True)
class _Placed:
    """One thing to write inside a container, with where it stood in the source."""

    line: int
    order: int
    element: Element


def render_template(t: ChecklistTemplate) -> str:
    """Return Markdown for `t`; parsing it back gives a template equal to `t`."""
    out: list[str] = [f"# {t.title}", ""] if t.title else []
    for key in _HEADER_ORDER:
        if key in t.header:
            label = t.header_labels.get(key) or _ENGLISH_LABELS[key]
            colon = ":" if label.isascii() else "："
            # Two trailing spaces: a Markdown line break, as release checklists write it.
            out.append(f"**{label}{colon}** {t.header[key]}".rstrip() + "  ")
    _write_body(out, [_Placed(0, 0, note) for note in t.notes])
    signoffs: dict[str, list[SignOffSpec]] = {}
    for spec in t.signoffs:
        signoffs.setdefault(spec.section_key, []).append(spec)
    for phase in t.phases:
        _blank(out)
        out.append(f"## {phase.title}".rstrip())
        _write_body(out, _placements(phase, signoffs.get(phase.key, [])))
        for section in phase.sections:
            _write_section(out, section, signoffs)
    return "\n".join(out).strip("\n") + "\n"


def _write_section(
    out: list[str], section: Section, signoffs: dict[str, list[SignOffSpec]]
) -> None:
    _blank(out)
    out.append(f"{'#' * section.level} {section.title}".rstrip())
    _write_body(out, _placements(section, signoffs.get(section.key, [])))
    for sub in section.subsections:
        _write_section(out, sub, signoffs)


def _placements(container: Phase | Section, signoffs: Sequence[SignOffSpec]) -> list[_Placed]:
    notes = container.notes
    # Hand-built templates may lack note lines: then notes simply go first.
    lines = container.note_lines if len(container.note_lines) == len(notes) else (0,) * len(notes)
    placed = [_Placed(line, 0, note) for line, note in zip(lines, notes, strict=True)]
    placed += [_Placed(c.line, 1, c) for c in container.commands]
    placed += [_Placed(t.line, 2, t) for t in container.tables]
    placed += [_Placed(i.line, 3, i) for i in container.items]
    placed += [_Placed(s.line, 3, s) for s in signoffs]
    return sorted(placed, key=lambda p: (p.line, p.order))


def _write_body(out: list[str], placed: list[_Placed]) -> None:
    previous: Element | None = None
    in_comment = False
    for place in placed:
        element = place.element
        if isinstance(element, str):
            glued = isinstance(previous, str) and (
                in_comment or previous.endswith("  ") or bool(_BULLET.match(element))
            )
            if not glued:
                _blank(out)
            out.append(element)
            in_comment = _comment_open(element, in_comment)
        elif isinstance(element, CodeBlock):
            _blank(out)
            out.extend(_code_lines(element))
        elif isinstance(element, Table):
            _blank(out)
            out.extend(_table_lines(element))
        else:
            if not isinstance(previous, TemplateItem | SignOffSpec) or _labelled(element):
                _blank(out)
            out.extend(_item_lines(element))
        previous = element


def _labelled(element: TemplateItem | SignOffSpec) -> bool:
    return isinstance(element, SignOffSpec) and bool(element.label)


def _item_lines(element: TemplateItem | SignOffSpec) -> list[str]:
    box = "[x]" if element.checked else "[ ]"
    if isinstance(element, SignOffSpec):
        suffix = render_signoff_annotation(
            element.key, element.role, element.phase_key, element.blocks
        )
        label = [f"**{element.label}**  "] if element.label else []
        return [*label, f"- {box} {element.text}{suffix}"]
    suffix = render_item_annotation(
        item_id=element.id if element.explicit_id else None,
        required=element.required,
        role=element.role,
        check=element.check,
        marks=element.marks,
        monitors=element.monitors,
    )
    return [f"- {box} {element.text}{suffix}"]


def _code_lines(block: CodeBlock) -> list[str]:
    body = block.code.split("\n") if block.code else []
    longest = max((len(m.group(1)) for line in body if (m := _BACKTICK_RUN.match(line))), default=2)
    fence = "~~~" if "`" in block.language else "`" * max(3, longest + 1)
    if fence == "~~~":
        tildes = [len(line.strip()) for line in body if set(line.strip()) == {"~"}]
        fence = "~" * max(3, max(tildes, default=2) + 1)
    return [f"{fence}{block.language}", *body, fence]


def _table_lines(table: Table) -> list[str]:
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    return [row(table.header), row(["---"] * len(table.header)), *(row(r) for r in table.rows)]


def _comment_open(line: str, inside: bool) -> bool:
    start, end = line.rfind("<!--"), line.rfind("-->")
    if start < 0 and end < 0:
        return inside
    return start > end


def _blank(out: list[str]) -> None:
    if out and out[-1] != "":
        out.append("")
