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

from bot.checklist.annotations import Annotation, parse_annotation, split_annotation
from bot.checklist.assemble import Container, RawItem, assemble
from bot.checklist.errors import TemplateError, TemplateProblem
from bot.checklist.keys import heading_key
from bot.checklist.model import ChecklistTemplate, CodeBlock, Table

_HEADING = re.compile(r"^(?P<hashes>#{1,6})(?:\s+(?P<title>.*?))?(?:\s+#+)?\s*$")
_ITEM = re.compile(r"^\s*[-*+]\s+\[(?P<mark>[ xX])\](?:\s+(?P<rest>.*))?$")
_BAD_CHECKBOX = re.compile(r"^\s*[-*+]\s*\[(?:\s*|[^\]\s])\](?!\()")
_FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_FENCE_CLOSE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*$")
_TABLE_DELIMITER = re.compile(r"^\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_BOLD_ONLY = re.compile(r"^\*\*(?P<label>.+?)\*\*$")
_HEADER = re.compile(
    r"^(?:\*\*(?P<b1>[^*]+?)\s*[:：]\s*\*\*|\*\*(?P<b2>[^*]+?)\*\*\s*[:：]|(?P<plain>[^*:：]+?)\s*[:：])"
    r"\s*(?P<value>.*)$"
)
HEADER_FIELDS: dict[str, str] = {
    "版本": "version",
    "version": "version",
    "发布日期": "release_date",
    "release date": "release_date",
    "发布负责人": "release_lead",
    "release lead": "release_lead",
}


def parse_template(text: str, source: str = "<string>") -> ChecklistTemplate:
    """Parse checklist Markdown; raise TemplateError listing every problem found."""
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    scanner = _Scanner(source)
    index = 0
    while index < len(lines):
        index = scanner.feed(lines, index)
    return scanner.finish()


def load_template(path: str | PathLike[str]) -> ChecklistTemplate:
    """Read and parse the checklist at `path` (UTF-8, BOM allowed); OSError if unreadable."""
    source = str(path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise TemplateError(
            [TemplateProblem(source, line, f"invalid UTF-8 byte 0x{bad}; expected UTF-8 text")]
        ) from exc
    return parse_template(text, source)


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

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[TemplateProblem] = []
        self.title = ""
        self.title_line = 0
        self.header: dict[str, str] = {}
        self.header_lines: dict[str, int] = {}
        self.header_labels: dict[str, str] = {}
        self.preamble: list[str] = []
        self.phases: list[Container] = []
        self.phase: Container | None = None
        self.section: Container | None = None
        self.container: Container | None = None
        self.comment_start: int | None = None
        self.pending_label: _Label | None = None
        self.checkbox_lines = 0

    def problem(self, line: int, message: str) -> None:
        """Record a problem at `line`."""
        self.problems.append(TemplateProblem(self.source, line, message))

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
        return assemble(
            source=self.source,
            title=self.title,
            header=self.header,
            header_labels=self.header_labels,
            preamble=self.preamble,
            phases=self.phases,
            problems=self.problems,
        )

    def line(self, raw: str, stripped: str, number: int, label: _Label | None) -> None:
        """Handle one ordinary line: heading, item, header field or note."""
        heading = _HEADING.match(stripped)
        if heading and len(heading.group("hashes")) <= 4:
            self.heading(len(heading.group("hashes")), (heading.group("title") or ""), number)
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
        taken = [p.key for p in self.phases]
        key = heading_key(title, 2, len(self.phases) + 1, taken)
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
        key = heading_key(title, 3, len(siblings) + 1, [c.slug for c in siblings])
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
        key = heading_key(title, 4, len(siblings) + 1, [c.slug for c in siblings])
        self.container = parent.child(key, title, 4, number)

    def item(self, rest: str, checked: bool, number: int, label: _Label | None) -> None:
        """Record a checkbox item with its annotation."""
        self.checkbox_lines += 1
        text, body = split_annotation(rest)
        note = parse_annotation(body) if body is not None else Annotation()
        for message in note.problems:
            self.problem(number, message)
        if not text:
            self.problem(number, "checkbox item has no text; expected '- [ ] what to check'")
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
        match = _HEADER.match(stripped)
        if not match:
            return False
        label = (match.group("b1") or match.group("b2") or match.group("plain")).strip()
        key = HEADER_FIELDS.get(label.lower())
        if key is None:
            return False
        if key in self.header:
            first = self.header_lines[key]
            self.problem(number, f"header field {key} given twice (first on line {first})")
            return True
        self.header[key] = match.group("value").strip()
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
