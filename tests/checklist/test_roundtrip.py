"""Render round trip: parse(render(t)) == t and render is a fixed point after one pass."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.checklist import ROLE_KEYS, ChecklistTemplate, parse_template
from bot.checklist.render import render_template

_CJK = "发布前准备代码测试部署监控回滚签字确认环境生产预检查通过完成"
_PROSE_CHARS = st.sampled_from(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?/()_=%&'\"—é✅🚀" + _CJK
)
_ITEM_EXTRA = st.sampled_from("`|[]@#*~+-:：（）")


def _clean(text: str) -> str:
    return " ".join(text.split())


prose = st.text(_PROSE_CHARS, min_size=1, max_size=20).map(_clean).filter(bool)
# Start with a letter so a note never looks like a list item, heading, fence or table.
notes = st.builds(
    lambda first, rest, bullet, hard: (
        ("- " if bullet else "") + first + rest + ("  " if hard else "")
    ),
    st.sampled_from("abcXYZ发布监控é"),
    st.text(_PROSE_CHARS, max_size=20),
    st.booleans(),
    st.booleans(),
)
item_texts = (
    st.text(st.one_of(_PROSE_CHARS, _ITEM_EXTRA), min_size=1, max_size=30).map(_clean).filter(bool)
)
code_lines = st.lists(
    st.one_of(
        st.text(st.characters(blacklist_characters="\r\n~"), max_size=25),
        st.sampled_from(["```", "````", "- [ ] not an item", "<!--", "## not a heading", "  ```"]),
    ),
    max_size=4,
)
cells = st.text(_PROSE_CHARS, max_size=8).map(str.strip)


@dataclass
class _Doc:
    """Markdown under construction, with how many checkboxes it should hold."""

    lines: list[str] = field(default_factory=list)
    checkboxes: int = 0
    next_id: int = 0


@st.composite
def _item_line(draw: st.DrawFn, doc: _Doc) -> str:
    """Draw one checkbox line with a random subset of annotations in random order."""
    parts = []
    if draw(st.booleans()):
        parts.append(f"id=item-{doc.next_id}")
        doc.next_id += 1
    if draw(st.booleans()):
        parts.append("optional")
    if draw(st.booleans()):
        parts.append(f"role={draw(st.sampled_from(ROLE_KEYS))}")
    if draw(st.booleans()):
        parts.append(f"check={draw(st.sampled_from(['k8s.rollout', 'ci', 'probe_1']))}")
    if draw(st.booleans()):
        parts.append("marks=production_deployed")
    doc.checkboxes += 1
    box = draw(st.sampled_from(["- [ ]", "- [x]", "* [ ]", "- [X]"]))
    suffix = f" {{{' '.join(draw(st.permutations(parts)))}}}" if parts else ""
    return f"{box} {draw(item_texts)}{suffix}"


@st.composite
def _body(draw: st.DrawFn, doc: _Doc, min_items: int = 0) -> list[str]:
    """Draw a container's content: items, notes, a code block, a table, in any order."""
    blocks: list[list[str]] = []
    for _ in range(draw(st.integers(min_items, 4))):
        blocks.append([draw(_item_line(doc))])
    for _ in range(draw(st.integers(0, 2))):
        blocks.append([draw(notes)])
    if draw(st.booleans()):
        info = draw(st.sampled_from(["", "bash", "python title=x.py"]))
        blocks.append(["~" * 10 + info, *draw(code_lines), "~" * 10])
    if draw(st.booleans()):
        width = draw(st.integers(1, 3))
        rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), max_size=3))
        header = draw(st.lists(cells, min_size=width, max_size=width))
        table = [header, ["-" * 3] * width, *rows]
        blocks.append(["| " + " | ".join(row) + " |" for row in table])
    lines: list[str] = []
    for block in draw(st.permutations(blocks)):
        lines += [""] * draw(st.integers(0, 1)) + block
    return lines


def _title(number: int | None, text: str, aside: str | None) -> str:
    lead = f"{number}. " if number is not None else ""
    return lead + text + (f" ({aside})" if aside else "")


titles = st.builds(
    _title, st.one_of(st.none(), st.integers(1, 9)), prose, st.one_of(st.none(), prose)
)


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, int]:
    """Draw a checklist document and the number of checkboxes written into it."""
    doc = _Doc()
    doc.lines.append(f"# {draw(prose)}")
    for label in draw(
        st.lists(
            st.sampled_from(["**版本：**", "Release date:", "**发布负责人**："]),
            max_size=2,
            unique=True,
        )
    ):
        doc.lines.append(f"{label} {draw(prose)}")
    for _ in range(draw(st.integers(1, 3))):
        doc.lines += ["", f"## {draw(titles)}", *draw(_body(doc, min_items=1))]
        for _ in range(draw(st.integers(0, 2))):
            doc.lines += ["", f"### {draw(titles)}", *draw(_body(doc))]
            for _ in range(draw(st.integers(0, 2))):
                doc.lines += [f"#### {draw(titles)}", *draw(_body(doc))]
    draft = parse_template("\n".join(doc.lines))
    doc.lines += ["", "## Sign-off (签字确认)", *draw(_signoffs(draft, doc))]
    return "\n".join(doc.lines) + draw(st.sampled_from(["", "\n"])), doc.checkboxes


@st.composite
def _signoffs(draw: st.DrawFn, draft: ChecklistTemplate, doc: _Doc) -> list[str]:
    """Draw sign-off lines that name phases and sections of `draft`."""
    lines: list[str] = []
    sections = [s.key for p in draft.phases for s in p.walk_sections()]
    for n in range(draw(st.integers(0, 2))):
        phase = draw(st.sampled_from([p.key for p in draft.phases]))
        blocks = ""
        if draw(st.booleans()) and sections:
            blocks = f" blocks={draw(st.sampled_from(sections))}"
        role = draw(st.sampled_from(ROLE_KEYS))
        if draw(st.booleans()):
            lines += ["", f"**{draw(prose)}:**  "]
        lines.append(f"- [ ] {draw(prose)} {{signoff=s{n} role={role} phase={phase}{blocks}}}")
        doc.checkboxes += 1
    return lines


def _assert_round_trip(t: ChecklistTemplate) -> str:
    rendered = render_template(t)
    again = parse_template(rendered, "rendered.md")
    assert again == t
    assert [i.id for i in again.items()] == [i.id for i in t.items()]
    assert render_template(again) == rendered
    return rendered


@settings(max_examples=150, deadline=None)
@given(documents())
def test_render_round_trips_generated_templates(document: tuple[str, int]) -> None:
    """Parse back a rendered template to an equal one, and render that to the same text."""
    text, checkboxes = document
    t = parse_template(text, "generated.md")
    assert t.checkbox_count() == checkboxes
    _assert_round_trip(t)


def test_render_round_trips_the_default_template(default_template: ChecklistTemplate) -> None:
    """Round-trip the default template, keeping ids, annotations, labels, blocks and notes."""
    rendered = _assert_round_trip(default_template)
    assert "- [ ] 健康检查通过 {id=prod-health role=devops check=k8s.rollout}" in rendered
    assert (
        "**Release approved:**  \n- [ ] Tech Lead (日期: YYYY-MM-DD) {signoff=approval" in rendered
    )
    assert "**版本：** vX.X.X  \n" in rendered
    assert "```bash\nkubectl rollout undo deployment/nexis-gateway\n```" in rendered


def test_render_keeps_checked_state_and_chooses_a_safe_fence() -> None:
    """Write [x] for ticked items and a longer fence when the code holds ``` lines."""
    t = parse_template("## P\n- [x] done\n\n~~~~\n```\ninner\n```\n~~~~\n")
    rendered = render_template(t)
    assert "- [x] done" in rendered
    assert "````\n```\ninner\n```\n````" in rendered
    assert parse_template(rendered) == t
