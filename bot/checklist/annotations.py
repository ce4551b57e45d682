"""Inline item metadata: a trailing ` {key=value key2 ...}` on a checkbox line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from bot.core.roles import ROLE_KEYS

ANNOTATION_KEYS: tuple[str, ...] = (
    "id",
    "optional",
    "role",
    "check",
    "marks",
    "signoff",
    "phase",
    "blocks",
    "monitors",
)
CHECK_NEEDS: dict[str, str] = {
    "k8s.rollout": "[services.kubernetes.production] namespace, deployment",
    "k8s.available": "[services.kubernetes.production] namespace, deployment",
    "k8s.rollout.staging": "[services.kubernetes.staging] namespace, deployment",
    "k8s.available.staging": "[services.kubernetes.staging] namespace, deployment",
    "k8s.rollout.production": "[services.kubernetes.production] namespace, deployment",
    "k8s.available.production": "[services.kubernetes.production] namespace, deployment",
    "github.branch": "[github] enabled; [services.github] repository, branch_pattern",
    "github.merged": "[github] enabled; [services.github] repository, branch_pattern, main_branch",
    "github.ci": "[github] enabled; [services.github] repository, required_checks, ci_ref",
    "github.tag": "[github] enabled; [services.github] repository, tag_pattern",
    "github.version_file": (
        "[github] enabled; [services.github] repository, tag_pattern, version_file, version_key"
    ),
    "github.release": "[github] enabled; [services.github] repository, tag_pattern",
    "github.assets": "[github] enabled; [services.github] repository, tag_pattern, assets",
    "github.changelog": (
        "[github] enabled; [services.github] repository, changelog, changelog_headings"
    ),
    "github.branch_deleted": "[github] enabled; [services.github] repository, branch_pattern",
    "report.announced": "[reports] enabled; announcements_channel or [reports.email]",
    "report.team_notified": "[reports] enabled; announcements_channel",
    "report.duration": "[reports] enabled",
    "report.issues": "[reports] enabled",
    "report.feedback": "[reports] enabled; feedback_min_answers, feedback_window",
    "report.retrospective": "[reports] enabled",
}
"""The `check=` keys the bot answers, and the settings each needs (`checklist validate`)."""

_SIGNOFF_KEYS = frozenset({"signoff", "role", "phase", "blocks"})
_FLAG_KEYS = frozenset({"optional"})

# A `{` with what follows it up to the next brace; `$` when it is never closed.
_GROUP = re.compile(r"\{(?P<body>[^{}]*)(?P<close>\}|$)")
_STRAY_CLOSE = re.compile(
    r"(?:^|(?<=\s))(?P<token>(?:id|role|check|marks|signoff|phase|blocks|monitors)=[^\s{}]*|optional)\}"
)
_EXCERPT = 40
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_CHECK = re.compile(r"[a-z0-9._-]+")
_BLOCKS = re.compile(r"[a-z0-9-]+(?:/[a-z0-9-]+)+")
_FLAG_VALUES = {"true": True, "false": False}
_MONITORS = re.compile(
    r"(?P<conditions>[a-z][a-z0-9_-]*(?:,[a-z][a-z0-9_-]*)*)(?:@(?P<first>(?:\d+[dhm])+))?"
)
_SPAN = re.compile(r"(\d+)([dhm])")
_SPAN_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


@dataclass
class Annotation:
    """The parsed metadata of one item line, plus any problems found in it."""

    id: str | None = None
    optional: bool = False
    role: str | None = None
    check: str | None = None
    marks: str | None = None
    signoff: str | None = None
    phase: str | None = None
    blocks: str | None = None
    monitors: str | None = None
    problems: list[str] = field(default_factory=list)


def split_annotation(text: str) -> tuple[str, str | None]:
    """Split an item's text into (text, annotation body or None if it has none).

    The annotation is a `{...}` group (no braces inside) at the very end, after whitespace
    or at the start of the text.
    """
    trimmed = text.rstrip()
    if trimmed.endswith("}"):
        opening = trimmed.rfind("{")
        body = trimmed[opening + 1 : -1]
        if opening >= 0 and "}" not in body and (opening == 0 or trimmed[opening - 1].isspace()):
            return trimmed[:opening].strip(), body
    return text.strip(), None


def _keylike(body: str) -> bool:
    """Return whether `body` holds a token that only makes sense in an annotation."""
    for token in body.split():
        key, eq, _ = token.partition("=")
        if (eq and key in ANNOTATION_KEYS) or token == "optional":
            return True
    return False


def _outside_code(text: str) -> list[str]:
    """Return the parts of `text` outside backtick code spans (braces there are text)."""
    parts = text.split("`")
    outside = parts[0::2]
    if len(parts) % 2 == 0:  # an unmatched backtick is a literal backtick
        outside.append(parts[-1])
    return outside


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def lookalike_problems(text: str) -> list[str]:
    """Return a message for each brace group in item text that looks like a broken annotation.

    `text` is the item text after its real annotation (if any) was split off. A `{...}` group
    holding `key=value` with an annotation key (or `optional`) that is not closed, not at the
    end, or not after a space, and a `key=value}` without its `{`, would otherwise silently
    stay text: a DevOps-only item would become tickable by anyone.
    """
    found: list[str] = []
    for part in _outside_code(text):
        for match in _GROUP.finditer(part):
            if not _keylike(match["body"]):
                continue
            group = _excerpt(match.group(0))
            if not match["close"]:
                found.append(
                    f"unclosed annotation {group!r}; expected ' {{key=value ...}}' closed "
                    "with '}' at the end of the line"
                )
            elif match.start() > 0 and not part[match.start() - 1].isspace():
                found.append(
                    f"annotation {group!r} is glued to the text; expected a space before '{{'"
                )
            else:
                found.append(
                    f"annotation {group!r} is not the line's annotation: only one brace group, "
                    "last on the line after a space, is; expected it there (or put literal "
                    "braces in backticks)"
                )
        for stray in _STRAY_CLOSE.finditer(_GROUP.sub(" ", part)):
            found.append(
                f"annotation {_excerpt(stray.group(0))!r} has no opening '{{'; "
                "expected ' {key=value ...}'"
            )
    return found


def parse_annotation(body: str) -> Annotation:
    """Parse `key=value key2 ...` into an Annotation, collecting every problem found."""
    note = Annotation()
    tokens = body.split()
    if not tokens:
        note.problems.append(
            "empty annotation '{}'; expected key=value pairs such as {role=devops}"
        )
    seen: set[str] = set()
    for token in tokens:
        key, eq, value = token.partition("=")
        if key not in ANNOTATION_KEYS:
            note.problems.append(
                f"unknown annotation key {key!r}; expected one of: {', '.join(ANNOTATION_KEYS)}"
            )
            continue
        if key in seen:
            note.problems.append(f"annotation key {key!r} given twice; expected it once")
            continue
        seen.add(key)
        _apply(note, key, value if eq else None)
    _check_combination(note, seen)
    return note


def _apply(note: Annotation, key: str, value: str | None) -> None:
    if key in _FLAG_KEYS:
        if value is None or value in _FLAG_VALUES:
            setattr(note, key, True if value is None else _FLAG_VALUES[value])
        else:
            note.problems.append(
                f"bad value {value!r} for {key!r}; expected a bare {key} or true/false"
            )
        return
    if not value:
        note.problems.append(f"annotation {key!r} needs a value; expected {key}=...")
        return
    problem = _value_problem(key, value)
    if problem:
        note.problems.append(problem)
    else:
        setattr(note, key, value)


def _value_problem(key: str, value: str) -> str | None:
    if key == "role":
        if value not in ROLE_KEYS:
            return f"unknown role {value!r}; expected one of: {', '.join(ROLE_KEYS)}"
        return None
    if key == "check":
        if not _CHECK.fullmatch(value):
            return f"bad check key {value!r}; expected lowercase letters, digits, '.', '_', '-'"
        return None
    if key == "monitors":
        if not _MONITORS.fullmatch(value):
            return (
                f"bad monitors value {value!r}; expected condition names joined by ',' and "
                "optionally '@' the part of the window they cover, e.g. error_rate@1h"
            )
        return None
    if key == "blocks":
        if not _BLOCKS.fullmatch(value):
            return f"bad blocks value {value!r}; expected a section key like deployment/production"
        return None
    if not _NAME.fullmatch(value):
        return (
            f"bad {key} value {value!r}; expected lowercase letters, digits, '.', '_', '-' "
            "starting with a letter or digit"
        )
    return None


def _check_combination(note: Annotation, seen: set[str]) -> None:
    if "signoff" in seen:
        for key in sorted(seen - _SIGNOFF_KEYS, key=ANNOTATION_KEYS.index):
            note.problems.append(
                f"{key!r} is not allowed on a sign-off; expected only signoff, role, phase, blocks"
            )
        for key in ("role", "phase"):
            if key not in seen:
                note.problems.append(f"sign-off has no {key!r}; expected {key}=... with signoff=")
        return
    for key in ("phase", "blocks"):
        if key in seen:
            note.problems.append(f"{key!r} is only valid on a sign-off; expected signoff=... too")


def parse_monitors(value: str) -> tuple[tuple[str, ...], timedelta | None]:
    """Return the conditions and the covered span of a `monitors=` value.

    `error_rate@1h`: error_rate, clean through the first hour of the window; `latency_p95`:
    clean through the whole window (None). The value was validated when the template parsed.
    """
    found = _MONITORS.fullmatch(value)
    if found is None:
        raise ValueError(f"bad monitors value {value!r}")
    first = None
    if found["first"]:
        first = sum(
            (int(n) * _SPAN_UNITS[u] for n, u in _SPAN.findall(found["first"])), timedelta()
        )
    return tuple(found["conditions"].split(",")), first


def render_item_annotation(
    *,
    item_id: str | None,
    required: bool,
    role: str | None,
    check: str | None,
    marks: str | None,
    monitors: str | None = None,
) -> str:
    """Return the ` {...}` suffix for an item, or "" when it carries no metadata."""
    parts = [] if item_id is None else [f"id={item_id}"]
    if not required:
        parts.append("optional")
    parts += [f"{k}={v}" for k, v in (("role", role), ("check", check), ("marks", marks)) if v]
    parts += [f"monitors={monitors}"] if monitors else []
    return f" {{{' '.join(parts)}}}" if parts else ""


def render_signoff_annotation(key: str, role: str, phase_key: str, blocks: str | None) -> str:
    """Return the ` {signoff=... role=... phase=...[ blocks=...]}` suffix for a sign-off."""
    tail = f" blocks={blocks}" if blocks else ""
    return f" {{signoff={key} role={role} phase={phase_key}{tail}}}"
