"""Templates that cannot hurt: linear parsing, size limits, broken annotations, `[x]`.

Each test here reproduces a finding of issue 12 and failed before the fix: the timing ones
by a wide margin (the old parser took 14 s for 2,000 headings and > 30 s for 10,000 items
or a 1 MB line), so their bounds are generous and never flaky.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.checklist import ChecklistTemplate, TemplateError, load_template, parse_template
from bot.checklist.keys import KeySet, unique
from bot.checklist.limits import DEFAULT_LIMITS, TemplateLimits
from bot.checklist.parser import header_parts, heading_parts
from bot.checklist.render import render_template
from bot.checklist.validate import run_validate, template_document

UNLIMITED = TemplateLimits.unlimited()


def _timed(parse: Callable[[], object]) -> float:
    start = time.perf_counter()
    parse()
    return time.perf_counter() - start


def _errors(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(TemplateError) as raised:
        parse_template(text, "t.md", **kwargs)  # type: ignore[arg-type]
    return [f"{p.line}: {p.message}" for p in raised.value.errors]


# ----- linear time ---------------------------------------------------------------------------


def test_2000_identical_section_headings_parse_in_well_under_a_second() -> None:
    """Key 2,000 repeats of one `###` title s, s-2, ... s-2000 quickly (was 14 s, cubic)."""
    text = "## Phase\n- [ ] x\n" + "### Same\n" * 2000
    elapsed = _timed(lambda: parse_template(text, limits=UNLIMITED))
    t = parse_template(text, limits=UNLIMITED)
    keys = [s.key for s in t.phases[0].sections]
    assert keys == ["phase/same"] + [f"phase/same-{n}" for n in range(2, 2001)]
    assert elapsed < 3.0


def test_10000_identical_items_parse_in_well_under_a_second() -> None:
    """Suffix 10,000 repeats of one item -2 ... -10000 quickly (was > 30 s, quadratic)."""
    text = "## Phase\n" + "- [ ] same\n" * 10_000
    elapsed = _timed(lambda: parse_template(text, limits=UNLIMITED))
    ids = [i.id for i in parse_template(text, limits=UNLIMITED).items()]
    assert len(set(ids)) == 10_000
    assert ids[1] == ids[0] + "-2" and ids[-1] == ids[0] + "-10000"
    assert elapsed < 3.0


@pytest.mark.parametrize(
    "line",
    [
        "a" + " " * 1_000_000 + "b",  # plain prose before the first phase
        "**" + " " * 1_000_000 + "b",  # looks like a bold header label
        "Version" + " " * 1_000_000 + "x",  # a header label without its colon
    ],
    ids=["prose", "bold", "label"],
)
def test_a_1mb_line_of_spaces_before_the_first_phase_is_linear(line: str) -> None:
    """Parse a 1 MB preamble line quickly (the header regex was quadratic: > 30 s)."""
    text = f"# T\n{line}\n## P\n- [ ] x\n"
    assert _timed(lambda: parse_template(text, limits=UNLIMITED)) < 3.0


def test_a_1mb_heading_and_item_of_spaces_are_linear() -> None:
    """Parse headings and items holding long runs of spaces quickly."""
    spaces = " " * 1_000_000
    text = f"## P{spaces}x ##\n### S{spaces}y\n- [ ] a{spaces}b {{role=devops\n"
    elapsed = _timed(lambda: parse_template(text, limits=UNLIMITED, lenient=True))
    t = parse_template(text, limits=UNLIMITED, lenient=True)
    assert t.phases[0].title == f"P{spaces}x"
    assert elapsed < 3.0


def test_a_heading_numbered_with_5000_digits_parses() -> None:
    """Key a heading whose leading number is too long for int() (it raised ValueError)."""
    t = parse_template("## " + "1" * 5000 + ". 发布\n- [ ] x\n")
    assert t.phases[0].key == "s1"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "a-2", "a-3", "b", "a-2-2", "b-2"]), max_size=30))
def test_keyset_suffixes_exactly_like_probing(slugs: list[str]) -> None:
    """Give the same keys as probing -2, -3, ... against a plain set (ids must not change)."""
    fast, plain = KeySet(), set[str]()
    for slug in slugs:
        expected = unique(slug, plain)
        plain.add(expected)
        assert unique(slug, fast) == expected


_OLD_HEADING = re.compile(r"^(?P<hashes>#{1,6})(?:\s+(?P<title>.*?))?(?:\s+#+)?\s*$")
_OLD_HEADER = re.compile(
    r"^(?:\*\*(?P<b1>[^*]+?)\s*[:：]\s*\*\*|\*\*(?P<b2>[^*]+?)\*\*\s*[:：]|(?P<plain>[^*:：]+?)\s*[:：])"
    r"\s*(?P<value>.*)$"
)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("#*:： \tab\u3000")), max_size=16))
def test_heading_and_header_splitting_match_the_old_regexes(line: str) -> None:
    """Split headings and header fields exactly as the replaced (backtracking) regexes did."""
    stripped = line.strip()
    if not stripped:
        return
    old = _OLD_HEADING.match(stripped)
    new = heading_parts(stripped)
    if old is None:
        assert new is None
    else:
        assert new == (len(old["hashes"]), (old["title"] or "").strip())
    header = _OLD_HEADER.match(stripped)
    expected = None
    if header:
        label = header["b1"] or header["b2"] or header["plain"]
        expected = (label.strip(), header["value"].strip())
    assert header_parts(stripped) == expected


_PIECES = st.sampled_from(
    [
        "## ", "### ", "#### ", "- [ ] ", "- [x] ", "* [ ] ", "{", "}", "role=devops ",
        "optional", "id=a", "`", " ", "  ", "\t", "\n", "\n", "**", ":", "：", "1. ", "x",
        "中", "<!--", "-->", "```", "| a |", "|---|", "#", "signoff=s role=oncall phase=p",
    ]
)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(_PIECES, max_size=60).map("".join))
def test_parsing_raises_only_template_errors_and_round_trips(text: str) -> None:
    """Never raise anything but TemplateError, and render back to an equal template."""
    try:
        t = parse_template(text)
    except TemplateError:
        return
    assert parse_template(render_template(t)) == t


# ----- size limits ---------------------------------------------------------------------------


def test_a_5mb_single_item_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    """Refuse a 5 MB item in validate (it passed and then made /release start time out)."""
    path = tmp_path / "huge.md"
    path.write_text("# T\n## P\n- [ ] " + "x" * 5_000_000 + "\n", encoding="utf-8")
    with pytest.raises(TemplateError) as raised:
        load_template(path)
    [problem] = raised.value.errors
    assert problem.line == 1
    assert "5,000,016 bytes; expected at most 65,536 (checklist.max_bytes)" in problem.message
    # Even with the byte limit lifted, the item itself is too long to post.
    errors = _errors(path.read_text(encoding="utf-8"), limits=TemplateLimits(max_bytes=None))
    assert errors == [
        "3: checkbox text is 5,000,000 characters; expected at most 500 "
        "(checklist.max_item_length): put details in a note line below it"
    ]


def test_validate_refuses_the_5mb_item(tmp_path: Path) -> None:
    """Exit 1 from `validate` with the byte-limit error at file:1."""
    path = tmp_path / "huge.md"
    path.write_text("## P\n- [ ] " + "x" * 5_000_000 + "\n", encoding="utf-8")
    out = io.StringIO()
    assert run_validate(str(path), False, out) == 1
    assert out.getvalue().startswith(f"{path}:1: template is 5,000,012 bytes;")


def test_items_per_phase_and_checkbox_limits() -> None:
    """Refuse 101 items in a phase and a 301st checkbox, naming the limit's config key."""
    many = "## Big\n" + "".join(f"- [ ] item {n}\n" for n in range(101))
    assert _errors(many) == [
        "1: phase 'Big' has 101 items; expected at most 100 "
        "(checklist.max_items_per_phase), or split it into phases"
    ]
    phases = "".join(
        f"## P{p}\n" + "".join(f"- [ ] item {n}\n" for n in range(100)) for p in range(4)
    )
    [error] = _errors(phases)
    assert "checkbox number 301 (of 400); expected at most 300 checkboxes" in error
    assert error.startswith(f"{3 * 101 + 2}: ")


def test_the_default_template_is_well_inside_the_limits(
    default_template: ChecklistTemplate,
) -> None:
    """Keep the team's checklist far from every limit (it must always start)."""
    assert DEFAULT_LIMITS.max_checkboxes is not None
    assert default_template.checkbox_count() * 3 < DEFAULT_LIMITS.max_checkboxes
    assert default_template.warnings == ()


# ----- annotations that are almost right --------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("- [ ] 回滚 {role=devops", "unclosed annotation '{role=devops'"),
        ("- [ ] nospace{role=devops}", "annotation '{role=devops}' is glued to the text"),
        ("- [ ] x {role=devops} later", "annotation '{role=devops}' is not the line's"),
        ("- [ ] x {role=devops} {optional}", "annotation '{role=devops}' is not the line's"),
        ("- [ ] x role=devops}", "annotation 'role=devops}' has no opening '{'"),
        ("- [ ] x {optional", "unclosed annotation '{optional'"),
        ("- [ ] x {id=a role=devops", "unclosed annotation '{id=a role=devops'"),
    ],
)
def test_a_broken_annotation_is_an_error_not_text(line: str, message: str) -> None:
    """Refuse a near-annotation (a DevOps-only item silently became tickable by anyone)."""
    [error] = _errors(f"## P\n{line}\n")
    assert error.startswith(f"2: {message}")
    lenient = parse_template(f"## P\n{line}\n", "t.md", lenient=True)
    [warning] = lenient.warnings
    assert warning.line == 2 and warning.message.startswith(message)
    assert lenient.items()[0].role is None  # lenient keeps it as text, as before, but says so


@pytest.mark.parametrize(
    "line",
    [
        "- [ ] render `{name}`",
        "- [ ] render `{role=devops}` literally {role=devops}",
        "- [ ] plain {braces} in text",
        '- [ ] JSON {"id": 1} body',
        "- [ ] optional step, done by {someone} today",
    ],
)
def test_braces_that_are_not_annotations_stay_text(line: str) -> None:
    """Keep braces in backticks, and braces without annotation keys, as text."""
    t = parse_template(f"## P\n{line}\n")
    assert t.warnings == ()


# ----- [x] --------------------------------------------------------------------------------


def test_a_ticked_box_warns_and_validate_shows_it_open(tmp_path: Path) -> None:
    """Warn about `[x]` (a release starts it open) and show `[ ]` in validate's tree."""
    path = tmp_path / "t.md"
    path.write_text("## P\n- [x] done already\n- [ ] open\n", encoding="utf-8")
    t = load_template(path)
    [warning] = t.warnings
    assert warning.line == 2
    assert "does not tick the box: every release starts with all boxes open" in warning.message
    out = io.StringIO()
    assert run_validate(str(path), False, out) == 0
    text = out.getvalue()
    assert "[x]" not in text.split("warning:")[0]
    assert f"{path}:2: warning: '[x]' does not tick the box" in text
    document = template_document(t)
    assert document["warnings"] == [{"line": 2, "message": warning.message}]
