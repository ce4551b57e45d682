"""Malformed templates: every problem is reported as `file:line: message`, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.checklist import TemplateError, TemplateProblem, load_template, parse_template

OK_PHASE = "## Ship\n\n- [ ] go\n"


def _problems(text: str) -> list[str]:
    with pytest.raises(TemplateError) as caught:
        parse_template(text, "t.md")
    return [str(p) for p in caught.value.errors]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# T\n- [ ] early\n" + OK_PHASE, "t.md:2: checkbox item before any '## ' phase"),
        (OK_PHASE + "```bash\nls\n", "t.md:4: unclosed code fence '```'"),
        (
            OK_PHASE + "\n<!-- open\n- [ ] x\n",
            "t.md:5: unclosed HTML comment '<!--'; expected '-->'",
        ),
        (
            OK_PHASE + "#### Orphan\n- [ ] x\n",
            "t.md:4: '####' subsection 'Orphan' has no enclosing",
        ),
        ("### Early\n- [ ] x\n" + OK_PHASE, "t.md:1: '###' section 'Early' before any phase"),
        ("# T\n\nJust prose.\n## P\n", "t.md:1: template has no checkbox items"),
        ("", "t.md:1: template has no checkbox items"),
        (
            OK_PHASE + "- [ ] a {id=x}\n- [ ] b {id=x}\n",
            "t.md:5: duplicate id 'x' (first on line 4)",
        ),
        (
            OK_PHASE + "- [ ] a {colour=red}\n",
            "t.md:4: unknown annotation key 'colour'; expected one of: id,",
        ),
        (
            OK_PHASE + "- [ ] a {role=admin}\n",
            "t.md:4: unknown role 'admin'; expected one of: release_lead,",
        ),
        (OK_PHASE + "- [ ] a {role}\n", "t.md:4: annotation 'role' needs a value"),
        (OK_PHASE + "- [ ] a {id=Bad_Id}\n", "t.md:4: bad id value 'Bad_Id'"),
        (OK_PHASE + "- [ ] a {check=K8S}\n", "t.md:4: bad check key 'K8S'"),
        (OK_PHASE + "- [ ] a {optional=maybe}\n", "t.md:4: bad value 'maybe' for 'optional'"),
        (
            OK_PHASE + "- [ ] a {role=devops role=oncall}\n",
            "t.md:4: annotation key 'role' given twice",
        ),
        (OK_PHASE + "- [ ] a {}\n", "t.md:4: empty annotation"),
        (OK_PHASE + "- [ ] a {phase=ship}\n", "t.md:4: 'phase' is only valid on a sign-off"),
        (OK_PHASE + "- [ ] a {signoff=ok phase=ship}\n", "t.md:4: sign-off has no 'role'"),
        (OK_PHASE + "- [ ] a {signoff=ok role=devops}\n", "t.md:4: sign-off has no 'phase'"),
        (
            OK_PHASE + "- [ ] a {signoff=ok role=devops phase=launch}\n",
            "t.md:4: sign-off 'ok' names phase 'launch', which does not exist; "
            "expected one of: ship",
        ),
        (
            OK_PHASE + "- [ ] a {signoff=ok role=devops phase=ship blocks=ship/nowhere}\n",
            "t.md:4: sign-off 'ok' blocks section 'ship/nowhere', which does not exist",
        ),
        (
            OK_PHASE + "- [ ] a {signoff=ok role=devops phase=ship blocks=ship}\n",
            "t.md:4: bad blocks value 'ship'; expected a section key",
        ),
        (
            OK_PHASE + "- [ ] a {signoff=ok role=devops phase=ship optional}\n",
            "t.md:4: 'optional' is not allowed on a sign-off",
        ),
        (
            OK_PHASE
            + "- [ ] a {signoff=ok role=devops phase=ship}\n"
            + "- [ ] b {signoff=ok role=devops phase=ship}\n",
            "t.md:5: duplicate sign-off 'ok' (first on line 4)",
        ),
        (
            OK_PHASE + "- [ ] a {id=ok}\n- [ ] b {signoff=ok role=devops phase=ship}\n",
            "t.md:5: sign-off key 'ok' is also an item id (line 4)",
        ),
        (OK_PHASE + "- [ ] {role=devops}\n", "t.md:4: checkbox item has no text"),
        (OK_PHASE + "- [v] done\n", "t.md:4: malformed checkbox '- [v] done'"),
        (OK_PHASE + "- []  nothing\n", "t.md:4: malformed checkbox"),
        (OK_PHASE + "- [ ]glued\n", "t.md:4: malformed checkbox"),
        (OK_PHASE + "##\n- [ ] x\n", "t.md:4: empty '##' heading"),
        ("# A\n# B\n" + OK_PHASE, "t.md:2: second '# ' title (first on line 1)"),
        ("**Version:** 1\nVersion: 2\n" + OK_PHASE, "t.md:2: header field version given twice"),
    ],
)
def test_malformed_input_is_reported_with_file_and_line(text: str, expected: str) -> None:
    """Report each malformed case as `file:line: message` saying what was expected."""
    problems = _problems(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_all_problems_are_collected_in_line_order() -> None:
    """Collect every problem in one error instead of stopping at the first."""
    text = (
        "- [ ] early\n"
        "## P\n"
        "- [ ] a {role=boss}\n"
        "- [ ] b {id=dup}\n"
        "- [ ] c {id=dup}\n"
        "<!-- never closed\n"
    )
    problems = _problems(text)
    assert problems == [
        "t.md:1: checkbox item before any '## ' phase; expected it under a phase",
        "t.md:3: unknown role 'boss'; expected one of: release_lead, tech_lead, devops, "
        "oncall, eng_manager, stakeholders, dev_team",
        "t.md:5: duplicate id 'dup' (first on line 4); expected unique",
        "t.md:6: unclosed HTML comment '<!--'; expected '-->'",
    ]


def test_error_message_lists_every_problem() -> None:
    """Make str(TemplateError) one `file:line: message` per line."""
    with pytest.raises(TemplateError) as caught:
        parse_template("## P\n- [ ] a {x}\n- [ ] b {y}\n", "t.md")
    assert str(caught.value).splitlines() == [
        "t.md:2: unknown annotation key 'x'; expected one of: "
        "id, optional, role, check, marks, signoff, phase, blocks, monitors",
        "t.md:3: unknown annotation key 'y'; expected one of: "
        "id, optional, role, check, marks, signoff, phase, blocks, monitors",
    ]


def test_problem_string_format() -> None:
    """Format a problem as `source:line: message`."""
    assert str(TemplateProblem("a.md", 7, "bad thing")) == "a.md:7: bad thing"


def test_plain_checklist_without_annotations_is_valid() -> None:
    """Accept a checklist with no title, header or annotations at all."""
    t = parse_template("## Only\n- [ ] one\n- [x] two\n")
    assert [i.checked for i in t.items()] == [False, True]
    assert (t.title, dict(t.header), t.signoffs) == ("", {}, ())


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    """Reject a file that is not UTF-8, naming the line of the bad byte."""
    path = tmp_path / "latin1.md"
    path.write_bytes("## P\n- [ ] ok\n- [ ] caf\xe9\n".encode("latin-1"))
    with pytest.raises(TemplateError) as caught:
        load_template(path)
    assert [str(p) for p in caught.value.errors] == [
        f"{path}:3: invalid UTF-8 byte 0xe9; expected UTF-8 text"
    ]


def test_missing_file_raises_os_error(tmp_path: Path) -> None:
    """Let a missing file raise FileNotFoundError (the CLI reports it)."""
    with pytest.raises(FileNotFoundError):
        load_template(tmp_path / "absent.md")
