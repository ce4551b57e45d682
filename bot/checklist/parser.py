"""Read a Markdown release checklist into a `ChecklistTemplate`, line by line.

The scanner keeps everything: checkbox lines become items, fenced blocks become commands,
pipe tables become tables, and every other non-blank line is kept as a note on the phase or
section it stands in. All problems are collected and raised together in one TemplateError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from bot.checklist.annotations import (
    Annotation,
    lookalike_problems,
    parse_annotation,
    split_annotation,
)
from bot.checklist.assemble import Container, RawItem, assemble
from bot.checklist.errors import TemplateError, TemplateProblem
from bot.checklist.keys import KeySet, heading_key
from bot.checklist.limits import DEFAULT_LIMITS, TemplateLimits
from bot.checklist.model import ChecklistTemplate, CodeBlock, Table

_ITEM = re.compile(r"^\s*[-*+]\s+\[(?P<mark>[ xX])\](?:\s+(?P<rest>.*))?$")
_BAD_CHECKBOX = re.compile(r"^\s*[-*+]\s*\[(?:\s*|[^\]\s])\](?!\()")
_FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_FENCE_CLOSE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*$")
_TABLE_DELIMITER = re.compile(r"^\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_BOLD_ONLY = re.compile(r"^\*\*(?P<label>.+?)\*\*$")
_COLONS = ":："
HEADER_FIELDS: dict[str, str] = {
    "版本": "version",
    "version": "version",
    "发布日期": "release_date",
    "release date": "release_date",
    "发布负责人": "release_lead",
    "release lead": "release_lead",
}


def parse_template(
    text: str,
    source: str = "<string>",
    *,
    lenient: bool = False,
    limits: TemplateLimits = DEFAULT_LIMITS,
) -> ChecklistTemplate:
    """Parse checklist Markdown; raise TemplateError listing every problem found.

    Parsing costs time linear in the size of `text`. `limits` bound what a release can post
    (see `TemplateLimits`); with `lenient`, a brace group that looks like a broken annotation
    is a warning (in `template.warnings`) instead of an error.
    """
    if limits.max_bytes is not None:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limits.max_bytes:
            raise TemplateError([_too_big(source, size, limits.max_bytes)])
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    scanner = _Scanner(source, lenient=lenient, limits=limits)
    index = 0
    while index < len(lines):
        index = scanner.feed(lines, index)
    return scanner.finish()


def load_template(
    path: str | PathLike[str],
    *,
    lenient: bool = False,
    limits: TemplateLimits = DEFAULT_LIMITS,
) -> ChecklistTemplate:
    """Read and parse the checklist at `path` (UTF-8, BOM allowed); OSError if unreadable.

    A file over `limits.max_bytes` is refused without being read in full.
    """
    source = str(path)
    with Path(path).open("rb") as file:
        data = file.read() if limits.max_bytes is None else file.read(limits.max_bytes + 1)
        if limits.max_bytes is not None and len(data) > limits.max_bytes:
            file.seek(0, 2)
            raise TemplateError([_too_big(source, file.tell(), limits.max_bytes)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise TemplateError(
            [TemplateProblem(source, line, f"invalid UTF-8 byte 0x{bad}; expected UTF-8 text")]
        ) from exc
    return parse_template(text, source, lenient=lenient, limits=limits)


def _too_big(source: str, size: int, limit: int) -> TemplateProblem:
    return TemplateProblem(
        source,
        1,
        f"template is {size:,} bytes; expected at most {limit:,} (checklist.max_bytes): "
        "a release posts the whole checklist to Discord",
    )


def heading_parts(stripped: str) -> tuple[int, str] | None:
    """Return (level, title) for an ATX heading line such as `## Title ##`, else None.

    `stripped` has no surrounding whitespace. Written without a regex: the pattern
    `#{1,6}(\\s+(.*?))?(\\s+#+)?\\s*$` backtracks quadratically over long runs of spaces.
    """
    level = len(stripped) - len(stripped.lstrip("#"))
    if not 1 <= level <= 6:
        return None
    if level == len(stripped):
        return level, ""
    if not stripped[level].isspace():
        return None
    title = stripped[level:].lstrip()
    unhashed = title.rstrip("#")
    if len(unhashed) < len(title) and unhashed[-1:].isspace():
        title = unhashed.rstrip()  # a closing sequence: `## Title ##`
    return level, title


def header_parts(stripped: str) -> tuple[str, str] | None:
    """Return (label, value) of a header line such as `**Label:** value`, else None.

    The forms are `**Label:** value`, `**Label**: value` and `Label: value`, with `:` or `：`;
    label and value come back stripped.
    Written without a regex: a lazy label followed by `\\s*` backtracks quadratically over a
    long run of spaces.
    """
    if stripped.startswith("**"):
        close = stripped.find("*", 2)
        if close < 0 or not stripped.startswith("**", close):
            return None
        inner, after = stripped[2:close], stripped[close + 2 :]
        bare = inner.rstrip()
        if len(bare) > 1 and bare[-1] in _COLONS:
            return bare[:-1].strip(), after.strip()  # `**Label:** value`
        rest = after.lstrip()
        if inner and rest[:1] and rest[0] in _COLONS:
            return inner.strip(), rest[1:].strip()  # `**Label**: value`
        return None
    if stripped.startswith("*"):
        return None
    found = [p for p in (stripped.find(c) for c in (*_COLONS, "*")) if p >= 0]
    position = min(found, default=-1)
    if position <= 0 or stripped[position] == "*":
        return None
    return stripped[:position].strip(), stripped[position + 1 :].strip()


def _comment_open_after(line: str, inside: bool) -> bool:
    """Return whether an HTML comment is still open at the end of `line`."""
    pos = 0
    while True:
        if inside:
            end = line.find("-->", pos)
            if end < 0:
                return True
            inside, pos = False, end + 3
        else:
            start = line.find("<!--", pos)
            if start < 0:
                return False
            inside, pos = True, start + 4


def _starts_table(stripped: str, lines: list[str], index: int) -> bool:
    """Return whether a pipe table (header row then delimiter row) starts at `index`."""
    if not stripped.startswith("|") or index + 1 >= len(lines):
        return False
    return bool(_TABLE_DELIMITER.match(lines[index + 1].strip()))


def _closes(candidate: str, fence: str) -> bool:
    """Return whether fence `candidate` closes a block opened with `fence`."""
    return candidate[0] == fence[0] and len(candidate) >= len(fence)


def _cells(row: str) -> tuple[str, ...]:
    body = row.strip().removeprefix("|")
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return tuple(cell.strip() for cell in _CELL_SPLIT.split(body))


@dataclass(frozen=True)
class _Label:
    """A bold-only note line that may turn out to label the sign-off below it."""

    container: Container
    index: int
    text: str


class _Scanner:
    """Walk the lines once, building containers and collecting problems."""

    def __init__(self, source: str, *, lenient: bool, limits: TemplateLimits) -> None:
        self.source = source
        self.lenient = lenient
        self.limits = limits
        self.problems: list[TemplateProblem] = []
        self.warnings: list[TemplateProblem] = []
        self.title = ""
        self.title_line = 0
        self.header: dict[str, str] = {}
        self.header_lines: dict[str, int] = {}
        self.header_labels: dict[str, str] = {}
        self.preamble: list[str] = []
        self.phases: list[Container] = []
        self.phase_keys = KeySet()
        self.phase: Container | None = None
        self.section: Container | None = None
        self.container: Container | None = None
        self.comment_start: int | None = None
        self.pending_label: _Label | None = None
        self.checkbox_lines = 0

    def problem(self, line: int, message: str) -> None:
        """Record a problem at `line`."""
        self.problems.append(TemplateProblem(self.source, line, message))

    def warning(self, line: int, message: str) -> None:
        """Record a warning at `line`: the template works, but likely not as meant."""
        self.warnings.append(TemplateProblem(self.source, line, message))

    def feed(self, lines: list[str], index: int) -> int:
        """Consume the line at `index` (and any block it opens); return the next index."""
        raw, number = lines[index], index + 1
        if self.comment_start is not None:
            self.pending_label = None
            if raw.strip():  # blank lines are layout, here as everywhere else
                self.note(raw, number)
            if not _comment_open_after(raw, inside=True):
                self.comment_start = None
            return index + 1
        stripped = raw.strip()
        if not stripped:
            return index + 1
        label, self.pending_label = self.pending_label, None
        fence = _FENCE_OPEN.match(raw)
        if fence and not (fence.group("fence")[0] == "`" and "`" in fence.group("info")):
            return self.fence(lines, index, fence)
        if _starts_table(stripped, lines, index):
            return self.table(lines, index)
        self.line(raw, stripped, number, label)
        if _comment_open_after(raw, inside=False):
            self.comment_start = number
        return index + 1

    def finish(self) -> ChecklistTemplate:
        """Check end-of-file conditions and assemble the template (or raise)."""
        if self.comment_start is not None:
            self.problem(self.comment_start, "unclosed HTML comment '<!--'; expected '-->'")
        if self.checkbox_lines == 0:
            self.problem(1, "template has no checkbox items; expected '- [ ] ...' under a phase")
        self.check_counts()
        return assemble(
            source=self.source,
            title=self.title,
            header=self.header,
            header_labels=self.header_labels,
            preamble=self.preamble,
            phases=self.phases,
            problems=self.problems,
            warnings=self.warnings,
        )

    def check_counts(self) -> None:
        """Refuse phases with more items, and templates with more checkboxes, than allowed."""
        per_phase, total = self.limits.max_items_per_phase, self.limits.max_checkboxes
        count = 0
        for phase in self.phases:
            entries = [raw for c in phase.walk() for raw in c.items]
            items = [raw for raw in entries if not raw.note.signoff]
            if per_phase is not None and len(items) > per_phase and not phase.detached:
                self.problem(
                    phase.line,
                    f"phase {phase.title!r} has {len(items)} items; expected at most "
                    f"{per_phase} (checklist.max_items_per_phase), or split it into phases",
                )
            for raw in entries:
                count += 1
                if total is not None and count == total + 1:
                    self.problem(
                        raw.line,
                        f"checkbox number {count} (of {self.count_checkboxes()}); expected at "
                        f"most {total} checkboxes in a template (checklist.max_checkboxes)",
                    )

    def count_checkboxes(self) -> int:
        """Return how many items and sign-offs the phases hold."""
        return sum(len(c.items) for phase in self.phases for c in phase.walk())

    def line(self, raw: str, stripped: str, number: int, label: _Label | None) -> None:
        """Handle one ordinary line: heading, item, header field or note."""
        heading = heading_parts(stripped)
        if heading and heading[0] <= 4:
            self.heading(heading[0], heading[1], number)
            return
        if heading:  # ##### and deeper carry no structure: keep them as prose
            self.note(raw, number)
            return
        item = _ITEM.match(raw)
        if item:
            self.item(item.group("rest") or "", item.group("mark") != " ", number, label)
            return
        if _BAD_CHECKBOX.match(raw):
            self.checkbox_lines += 1
            self.problem(
                number,
                f"malformed checkbox {stripped[:12]!r}; expected '- [ ] text' or '- [x] text'",
            )
            return
        if not self.phases and self.header_field(stripped, number):
            return
        self.note(raw, number)
        bold = _BOLD_ONLY.match(stripped)
        if bold and self.container is not None:
            index = len(self.container.notes) - 1
            self.pending_label = _Label(self.container, index, bold.group("label"))

    def heading(self, level: int, title: str, number: int) -> None:
        """Set the title (#) or open a phase (##), section (###) or subsection (####)."""
        title = title.strip()
        if level == 1:
            if self.title_line:
                self.problem(
                    number,
                    f"second '# ' title (first on line {self.title_line}); expected only one",
                )
            elif self.phases:
                self.problem(number, "'# ' title after a phase; expected the title at the top")
            else:
                self.title, self.title_line = title, number
            return
        if not title:
            self.problem(number, f"empty '{'#' * level}' heading; expected a title after it")
        if level == 2:
            self.open_phase(title, number)
        elif level == 3:
            self.open_section(title, number)
        else:
            self.open_subsection(title, number)

    def open_phase(self, title: str, number: int) -> None:
        """Start a new `##` phase."""
        key = heading_key(title, 2, len(self.phases) + 1, self.phase_keys)
        self.phase = Container(key, title, 2, number, (title,))
        self.phases.append(self.phase)
        self.section = None
        self.container = self.phase

    def open_section(self, title: str, number: int) -> None:
        """Start a new `###` section in the current phase."""
        if self.phase is None:
            self.problem(number, f"'###' section {title!r} before any phase; expected '## ' first")
            # A detached phase keeps what follows from raising a second error per line.
            self.phase = Container("", "", 2, number, ("",), detached=True)
        siblings = self.phase.children
        key = heading_key(title, 3, len(siblings) + 1, self.phase.child_keys)
        self.section = self.phase.child(key, title, 3, number)
        self.container = self.section

    def open_subsection(self, title: str, number: int) -> None:
        """Start a new `####` subsection in the current section."""
        if self.section is None:
            self.problem(
                number,
                f"'####' subsection {title!r} has no enclosing '###' section; "
                "expected a '### ' heading before it",
            )
            parent = Container("", "", 3, number, ("", ""), detached=True)
        else:
            parent = self.section
        siblings = parent.children
        key = heading_key(title, 4, len(siblings) + 1, parent.child_keys)
        self.container = parent.child(key, title, 4, number)

    def item(self, rest: str, checked: bool, number: int, label: _Label | None) -> None:
        """Record a checkbox item with its annotation."""
        self.checkbox_lines += 1
        text, body = split_annotation(rest)
        note = parse_annotation(body) if body is not None else Annotation()
        for message in note.problems:
            self.problem(number, message)
        for message in lookalike_problems(text):
            (self.warning if self.lenient else self.problem)(number, message)
        if not text:
            self.problem(number, "checkbox item has no text; expected '- [ ] what to check'")
        longest = self.limits.max_item_length
        if longest is not None and len(text) > longest:
            self.problem(
                number,
                f"checkbox text is {len(text):,} characters; expected at most {longest:,} "
                "(checklist.max_item_length): put details in a note line below it",
            )
        if checked:
            self.warning(
                number,
                "'[x]' does not tick the box: every release starts with all boxes open; "
                "expected '- [ ]'",
            )
        if self.container is None:
            self.problem(number, "checkbox item before any '## ' phase; expected it under a phase")
            return
        label_text = ""
        if note.signoff and label is not None and label.container is self.container:
            # The bold line right above a sign-off ("**Release approved:**") is its label.
            label_text = label.text
            del self.container.notes[label.index], self.container.note_lines[label.index]
        self.container.items.append(RawItem(text, note, number, checked, label_text))

    def header_field(self, stripped: str, number: int) -> bool:
        """Record a header field line (before the first phase); return False if it is not one."""
        parts = header_parts(stripped)
        if parts is None:
            return False
        label, value = parts
        key = HEADER_FIELDS.get(label.lower())
        if key is None:
            return False
        if key in self.header:
            first = self.header_lines[key]
            self.problem(number, f"header field {key} given twice (first on line {first})")
            return True
        self.header[key] = value
        self.header_lines[key], self.header_labels[key] = number, label
        return True

    def note(self, text: str, number: int) -> None:
        """Keep a prose line on the innermost open container (or the preamble)."""
        if self.container is None:
            self.preamble.append(text)
        else:
            self.container.notes.append(text)
            self.container.note_lines.append(number)

    def fence(self, lines: list[str], index: int, opening: re.Match[str]) -> int:
        """Consume a fenced code block starting at `index`; return the index after it."""
        fence, indent = opening.group("fence"), len(opening.group("indent"))
        body: list[str] = []
        for end in range(index + 1, len(lines)):
            closing = _FENCE_CLOSE.match(lines[end])
            if closing and _closes(closing.group("fence"), fence):
                block = CodeBlock(opening.group("info").strip(), "\n".join(body), index + 1)
                self.attach(block, index + 1, "code block")
                return end + 1
            raw = lines[end]
            # Like CommonMark: drop up to the fence's own indentation from each code line.
            body.append(raw[min(indent, len(raw) - len(raw.lstrip(" "))) :])
        self.problem(index + 1, f"unclosed code fence {fence!r}; expected a closing {fence} line")
        return len(lines)

    def table(self, lines: list[str], index: int) -> int:
        """Consume a pipe table starting at `index`; return the index after it."""
        rows: list[tuple[str, ...]] = []
        end = index + 2
        while end < len(lines) and lines[end].strip().startswith("|"):
            rows.append(_cells(lines[end]))
            end += 1
        self.attach(Table(_cells(lines[index]), tuple(rows), index + 1), index + 1, "table")
        return end

    def attach(self, block: CodeBlock | Table, number: int, what: str) -> None:
        """Attach a code block or table to the innermost container."""
        if self.container is None:
            self.problem(number, f"{what} before any '## ' phase; expected it under a phase")
        elif isinstance(block, CodeBlock):
            self.container.commands.append(block)
        else:
            self.container.tables.append(block)
