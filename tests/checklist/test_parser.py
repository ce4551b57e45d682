"""Parsing rules: structure, blocks, notes, line endings, headers and annotations."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.checklist import load_template, parse_template
from bot.checklist.keys import heading_key
from tests.checklist.harness import DEFAULT_TEMPLATE

SMALL = """\
# Demo

## Build

- [ ] compile
* [x] 打包完成 {optional role=dev_team}

### Checks

```sh
make check
```

- [ ] lint {check=ci.lint}
"""


def test_small_template_structure() -> None:
    """Put phase-level items on the phase and section items on the section."""
    t = parse_template(SMALL)
    (phase,) = t.phases
    assert (phase.key, phase.title) == ("build", "Build")
    assert [i.text for i in phase.items] == ["compile", "打包完成"]
    packed = phase.items[1]
    assert (packed.checked, packed.required, packed.role) == (True, False, "dev_team")
    assert packed.section_key == "build"
    assert packed.section_path == ("Build",)
    (section,) = phase.sections
    assert section.key == "build/checks"
    assert section.commands[0].language == "sh"
    assert section.items[0].check == "ci.lint"
    assert [i.text for i in phase.all_items()] == ["compile", "打包完成", "lint"]


def test_crlf_gives_the_same_template_as_lf() -> None:
    """Normalize CRLF (and lone CR) line endings."""
    lf = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    crlf = parse_template(lf.replace("\n", "\r\n"), "crlf.md")
    assert crlf == parse_template(lf, "lf.md")
    assert crlf.section("deployment/rollback").commands[0].code.count("\r") == 0
    assert parse_template(lf.replace("\n", "\r")) == crlf


def test_bom_is_tolerated(tmp_path: Path) -> None:
    """Skip a UTF-8 byte order mark, in text and in files."""
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    path = tmp_path / "bom.md"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    with_bom = load_template(path)
    assert with_bom.title == "Release Checklist"
    assert with_bom == parse_template("\ufeff" + text)
    assert with_bom == parse_template(text)


def test_items_inside_fences_and_comments_are_not_items() -> None:
    """Keep checkbox lines in code fences and HTML comments out of the item list."""
    text = """\
## Phase

- [ ] real one

```markdown
- [ ] inside backticks
```

~~~
- [ ] inside tildes
```
- [ ] still inside: a shorter other fence does not close it
~~~

<!-- - [ ] one-line comment -->

<!--
- [ ] multi-line comment
## not a phase
-->

- [ ] real two
"""
    t = parse_template(text)
    assert [i.text for i in t.items()] == ["real one", "real two"]
    (phase,) = t.phases
    assert phase.commands[0].code == "- [ ] inside backticks"
    assert phase.commands[1].code.splitlines()[-1].startswith("- [ ] still inside")
    assert "- [ ] multi-line comment" in phase.notes
    assert "## not a phase" in phase.notes


def test_fence_info_string_and_indentation() -> None:
    """Keep the whole info string; drop the fence's own indentation from code lines."""
    text = "## P\n\n- [ ] a\n\n  ```bash title=deploy.sh\n  kubectl apply\n    -f x\n  ```\n"
    (block,) = parse_template(text).phases[0].commands
    assert block.language == "bash title=deploy.sh"
    assert block.code == "kubectl apply\n  -f x"
    assert block.line == 5


def test_english_header_fields() -> None:
    """Read Version / Release date / Release lead, bold or plain, with ':' or '：'."""
    text = (
        "# T\n\n**Version:** v1.2.3\nRelease date： 2026-01-05\n**Release lead**: @ann\n"
        "\n## P\n- [ ] x\n"
    )
    t = parse_template(text)
    assert dict(t.header) == {
        "version": "v1.2.3",
        "release_date": "2026-01-05",
        "release_lead": "@ann",
    }
    assert t.notes == ()


def test_prose_before_the_first_phase_is_kept() -> None:
    """Keep unrecognized lines above the first phase as template notes."""
    t = parse_template("# T\nOwner: release team\n---\n## P\n- [ ] x\n")
    assert t.notes == ("Owner: release team", "---")


def test_non_ascii_survives_unchanged() -> None:
    """Keep CJK, emoji and combining characters byte for byte."""
    text = "## 发布 🚀\n\n- [ ] 检查 café ✅ {role=oncall}\n"
    t = parse_template(text)
    assert t.items()[0].text == "检查 café ✅"
    assert t.phases[0].title == "发布 🚀"
    assert t.phases[0].key == "s1"


def test_table_cells_and_escaped_pipes() -> None:
    """Split table cells on unescaped pipes only."""
    text = "## P\n\n| a | b |\n|:--|--:|\n| x \\| y | z |\n| only |\n\n- [ ] item\n"
    (table,) = parse_template(text).phases[0].tables
    assert table.header == ("a", "b")
    assert table.rows == (("x \\| y", "z"), ("only",))


def test_signoff_label_is_the_bold_line_right_above() -> None:
    """Take the bold line above a sign-off as its label; other bold lines stay notes."""
    text = """\
## Ship
- [ ] go

## Sign-off

**Context:** read this first

**Approved:**
- [ ] Lead {signoff=ok role=tech_lead phase=ship}

**Not a label:**
- [ ] plain item
"""
    t = parse_template(text)
    (spec,) = t.signoffs
    assert (spec.label, spec.section_key, spec.section_path) == (
        "Approved:",
        "sign-off",
        ("Sign-off",),
    )
    assert t.phase("sign-off").notes == ("**Context:** read this first", "**Not a label:**")
    assert [p.key for p in t.workflow_phases()] == ["ship", "sign-off"]


def test_annotation_forms() -> None:
    """Accept bare flags, optional=false and keys in any order; strip them from the text."""
    text = "## P\n- [ ] a {optional=false role=devops}\n- [ ] b   {marks=shipped optional}\n"
    a, b = parse_template(text).items()
    assert (a.text, a.required, a.role) == ("a", True, "devops")
    assert (b.text, b.required, b.marks) == ("b", False, "shipped")


def test_braces_inside_text_are_not_annotations() -> None:
    """Only a trailing ` {...}` group is metadata; braces elsewhere are text."""
    t = parse_template("## P\n- [ ] render `{name}` template\n- [ ] a {b} c\n")
    assert [i.text for i in t.items()] == ["render `{name}` template", "a {b} c"]


@pytest.mark.parametrize(
    ("title", "level", "key"),
    [
        ("Pre-Release Preparation (发布前准备)", 2, "pre-release"),
        ("Release Process (发布流程)", 2, "release"),
        ("Incident Response (应急响应)", 2, "incident-response"),
        ("Sign-off (签字确认)", 2, "sign-off"),
        ("1. Staging Deployment (预发布环境部署)", 3, "staging"),
        ("3. Rollback Plan (回滚计划)", 3, "rollback"),
        ("Deployment", 3, "deployment"),
        ("Pre-deployment", 4, "pre-deployment"),
        ("Post-deployment", 4, "post-deployment"),
        ("1. 代码完成度", 3, "s1"),
        ("代码完成度", 3, "s7"),
        ("发布 (Go Live)", 3, "go-live"),
        ("Step 2: Build & Push!", 3, "step-2-build-push"),
    ],
)
def test_heading_keys(title: str, level: int, key: str) -> None:
    """Derive keys from the ASCII words of a title, with the documented shortenings."""
    assert heading_key(title, level, 7, ()) == key


def test_duplicate_section_titles_get_suffixes() -> None:
    """Suffix repeated section keys with -2, -3."""
    text = (
        "## P\n### Checks\n- [ ] a\n### Checks\n- [ ] b\n### 检查\n- [ ] c\n### 1. 检查\n- [ ] d\n"
    )
    keys = [s.key for s in parse_template(text).phases[0].sections]
    assert keys == ["p/checks", "p/checks-2", "p/s3", "p/s1"]
