"""`releasebot checklist validate PATH [--json] [--lenient]`: check a template, show what it holds.

It parses exactly as a release does (same limits, same strictness), so a template that
passes can be started. Warnings (`file:line: warning: ...`) do not fail it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from bot.checklist.annotations import CHECK_NEEDS
from bot.checklist.errors import TemplateError, TemplateProblem
from bot.checklist.limits import DEFAULT_LIMITS, TemplateLimits
from bot.checklist.model import ChecklistTemplate, Section, SignOffSpec, TemplateItem
from bot.checklist.parser import load_template

Entry = TemplateItem | SignOffSpec


def run_validate(
    path: str,
    as_json: bool,
    out: TextIO,
    *,
    lenient: bool = False,
    limits: TemplateLimits = DEFAULT_LIMITS,
) -> int:
    """Validate the template at `path`, print a tree (or JSON) to `out`; return the exit code.

    With `lenient`, brace groups that look like broken annotations are warnings, not errors.
    """
    try:
        template = load_template(path, lenient=lenient, limits=limits)
    except OSError as exc:
        out.write(f"{path}: cannot read checklist template: {exc.strerror or exc}\n")
        return 1
    except TemplateError as exc:
        found = [(p, "") for p in exc.errors] + [(p, "warning: ") for p in exc.warnings]
        for problem, kind in sorted(found, key=lambda pair: pair[0].line):
            out.write(f"{warning_line(problem) if kind else problem}\n")
        return 1
    if as_json:
        json.dump(template_document(template), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(render_tree(template))
        for warning in template.warnings:
            out.write(f"{warning_line(warning)}\n")
    return 0


def warning_line(problem: TemplateProblem) -> str:
    """Return a warning as `source:line: warning: message`."""
    return f"{problem.source}:{problem.line}: warning: {problem.message}"


def template_document(t: ChecklistTemplate) -> dict[str, Any]:
    """Return the JSON-ready description of `t` that `validate --json` prints."""
    placed = _signoffs_by_section(t)
    flat: list[Entry] = sorted([*t.items(), *t.signoffs], key=lambda e: e.line)
    return {
        "source": t.source,
        "title": t.title,
        "header": dict(t.header),
        "checkbox_count": t.checkbox_count(),
        "workflow_phases": [p.key for p in t.workflow_phases()],
        "phases": [
            {
                "key": phase.key,
                "title": phase.title,
                "sections": [_section_document(s, placed, [phase.title]) for s in phase.sections],
                "items": [entry_document(e) for e in _entries(phase.items, placed, phase.key)],
            }
            for phase in t.phases
        ],
        "items": [entry_document(e) for e in flat],
        "warnings": [{"line": w.line, "message": w.message} for w in t.warnings],
        "checks": [
            {"check": key, "needs": CHECK_NEEDS.get(key), "items": ids}
            for key, ids in checked_items(t).items()
        ],
    }


def checked_items(t: ChecklistTemplate) -> dict[str, list[str]]:
    """Return each `check=` key of `t` with the ids of the items carrying it, in file order."""
    found: dict[str, list[str]] = {}
    for item in t.items():
        if item.check:
            found.setdefault(item.check, []).append(item.id)
    return found


def checks_lines(t: ChecklistTemplate) -> list[str]:
    """Return the "Automatic checks" part of the tree: each key, what it needs, its items."""
    found = checked_items(t)
    if not found:
        return []
    count = sum(len(ids) for ids in found.values())
    lines = ["", f"Automatic checks: {count} items carry a check, ticked by the bot on evidence"]
    for key, ids in found.items():
        needs = CHECK_NEEDS.get(key)
        what = f"needs {needs}" if needs else "unknown check: nothing answers it, tick by hand"
        lines.append(f"  {key} ({what}): {', '.join(ids)}")
    return lines


def entry_document(entry: Entry) -> dict[str, Any]:
    """Return one item or sign-off as a JSON-ready dict (same keys for both kinds)."""
    if isinstance(entry, SignOffSpec):
        return {
            "id": entry.key,
            "text": entry.text,
            "kind": "signoff",
            "section_key": entry.section_key,
            "section_path": list(entry.section_path),
            "required": True,
            "role": entry.role,
            "check": None,
            "marks": None,
            "phase": entry.phase_key,
            "blocks": entry.blocks,
            "label": entry.label,
            "checked": entry.checked,
            "line": entry.line,
        }
    return {
        "id": entry.id,
        "text": entry.text,
        "kind": "item",
        "section_key": entry.section_key,
        "section_path": list(entry.section_path),
        "required": entry.required,
        "role": entry.role,
        "check": entry.check,
        "marks": entry.marks,
        "phase": None,
        "blocks": None,
        "label": None,
        "checked": entry.checked,
        "line": entry.line,
    }


def render_tree(t: ChecklistTemplate) -> str:
    """Return a readable outline: phases, sections, items with ids, roles and sign-offs."""
    placed = _signoffs_by_section(t)
    header = " · ".join(f"{k}: {v}" for k, v in t.header.items())
    workflow = " → ".join(p.key for p in t.workflow_phases())
    lines = [f"{t.title or '(untitled)'} — {t.source}"] + ([header] if header else [])
    lines.append(
        f"{t.checkbox_count()} checkboxes: {len(t.items())} items, {len(t.signoffs)} sign-offs; "
        f"workflow: {workflow}"
    )
    for phase in t.phases:
        lines += ["", f"[{phase.key}] {phase.title}"]
        lines += [_entry_line(e, 1) for e in _entries(phase.items, placed, phase.key)]
        for section in phase.sections:
            lines += _section_lines(section, placed, 1)
    lines += checks_lines(t)
    return "\n".join(lines) + "\n"


def _signoffs_by_section(t: ChecklistTemplate) -> dict[str, list[SignOffSpec]]:
    placed: dict[str, list[SignOffSpec]] = {}
    for spec in t.signoffs:
        placed.setdefault(spec.section_key, []).append(spec)
    return placed


def _entries(
    items: Sequence[TemplateItem], placed: dict[str, list[SignOffSpec]], key: str
) -> list[Entry]:
    return sorted([*items, *placed.get(key, [])], key=lambda e: e.line)


def _section_document(
    section: Section, placed: dict[str, list[SignOffSpec]], parent: list[str]
) -> dict[str, Any]:
    path = [*parent, section.title]
    return {
        "key": section.key,
        "title": section.title,
        "path": path,
        "items": [entry_document(e) for e in _entries(section.items, placed, section.key)],
        "subsections": [_section_document(s, placed, path) for s in section.subsections],
    }


def _section_lines(section: Section, placed: dict[str, list[SignOffSpec]], depth: int) -> list[str]:
    lines = [f"{'  ' * depth}[{section.key}] {section.title}"]
    lines += [_entry_line(e, depth + 1) for e in _entries(section.items, placed, section.key)]
    for sub in section.subsections:
        lines += _section_lines(sub, placed, depth + 1)
    return lines


def _entry_line(entry: Entry, depth: int) -> str:
    box = "[ ]"  # a release starts with every box open, `[x]` in the template or not
    if isinstance(entry, SignOffSpec):
        facts = [f"sign-off {entry.label!r}" if entry.label else "sign-off"]
        facts += [f"role={entry.role}", f"phase={entry.phase_key}"]
        facts += [f"blocks={entry.blocks}"] if entry.blocks else []
        return f"{'  ' * depth}- {box} {entry.key}  {entry.text}  ({', '.join(facts)})"
    facts = ["required" if entry.required else "optional"]
    facts += [f"{k}={v}" for k, v in (("role", entry.role), ("check", entry.check)) if v]
    facts += [f"marks={entry.marks}"] if entry.marks else []
    facts += [f"monitors={entry.monitors}"] if entry.monitors else []
    return f"{'  ' * depth}- {box} {entry.id}  {entry.text}  ({', '.join(facts)})"
