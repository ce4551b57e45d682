"""Item ids: content-derived, stable under edits elsewhere, unique within a section."""

from __future__ import annotations

import hashlib

from bot.checklist import ChecklistTemplate, parse_template
from tests.checklist.harness import DEFAULT_TEMPLATE


def _ids_by_place(t: ChecklistTemplate) -> dict[tuple[str, str], str]:
    return {(i.section_key, i.text): i.id for i in t.items()}


def test_ids_survive_edits_elsewhere(default_template: ChecklistTemplate) -> None:
    """Keep every untouched item's id when items, sections and phases are added around it."""
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    edited = (
        text.replace(
            "---\n\n## Pre-Release",
            "## Kickoff (启动)\n\n- [ ] 会议已召开\n\n---\n\n## Pre-Release",
            1,
        )
        .replace("- [ ] 所有计划功能已实现\n", "- [ ] 新增的第一项\n- [ ] 所有计划功能已实现\n", 1)
        .replace(
            "### 2. Final Testing",
            "### Security Review\n\n- [ ] 渗透测试\n\n### 2. Final Testing",
            1,
        )
        .replace("- [ ] 错误率正常\n", "- [ ] 错误率正常\n- [ ] 日志无异常\n", 1)
        .replace(
            "- [ ] 数据库备份完成\n- [ ] 监控大盘准备好",
            "- [ ] 监控大盘准备好\n- [ ] 数据库备份完成",
            1,
        )
    )
    before, after = _ids_by_place(default_template), _ids_by_place(parse_template(edited))
    assert len(after) == len(before) + 4
    assert {place: after[place] for place in before} == before
    assert after[("release/security-review", "渗透测试")].startswith("release/security-review:")


def test_editing_an_item_changes_only_its_id(default_template: ChecklistTemplate) -> None:
    """Change the id of an item whose text changed, and of no other item."""
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    edited = parse_template(text.replace("- [ ] 关键功能验证\n", "- [ ] 核心功能验证\n", 1))
    old = [i.id for i in default_template.items()]
    new = [i.id for i in edited.items()]
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert len(changed) == 1
    assert changed[0][1].startswith("deployment/production/post-deployment:")


def test_id_is_section_key_and_sha1_of_normalized_text() -> None:
    """Hash the text with annotations stripped and whitespace collapsed."""
    t = parse_template("## P\n### S\n- [ ]   检查   日志  {role=devops}\n")
    digest = hashlib.sha1("检查 日志".encode()).hexdigest()[:8]
    assert t.items()[0].id == f"p/s:{digest}"
    respaced = parse_template("## P\n### S\n- [ ] 检查 日志\n")
    assert respaced.items()[0].id == t.items()[0].id


def test_duplicate_text_in_a_section_gets_suffixes() -> None:
    """Number repeats of the same text in one section -2, -3; other sections are separate."""
    t = parse_template("## P\n### A\n- [ ] same\n- [ ] same\n- [ ] same\n### B\n- [ ] same\n")
    base = "p/a:" + hashlib.sha1(b"same").hexdigest()[:8]
    assert [i.id for i in t.items()] == [
        base,
        f"{base}-2",
        f"{base}-3",
        "p/b:" + hashlib.sha1(b"same").hexdigest()[:8],
    ]


def test_explicit_id_wins_and_is_marked() -> None:
    """Use an explicit id verbatim and flag it as explicit."""
    t = parse_template("## P\n- [ ] a {id=step.one_1}\n- [ ] b\n")
    a, b = t.items()
    assert (a.id, a.explicit_id) == ("step.one_1", True)
    assert b.explicit_id is False
    assert t.item("step.one_1") is a
